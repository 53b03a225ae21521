using DeFeat.Losses;
using DeFeat.Losses.Dense;
using DeFeat.Losses.Masks;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Terms;

/// <summary>
/// Reads a dense head's recorded class scores as <see cref="DenseHeadKdTermOptions.Layout"/> and
/// <see cref="DenseHeadKdTermOptions.ScoreKind"/> say, and turns them into the per-level logit maps
/// [B, A·K, H_l, W_l] of <see cref="DecoupledDenseKdLoss"/>. Its errors name the option to fix
/// (<c>options.Layout</c>, <c>options.Strides</c>, …) and, for a layout that does not fit, the layout the shapes suggest.
/// </summary>
internal static class DenseHeadScores
{
    /// <summary>ε of the probability clamp for float16, bfloat16 and float32 scores (computed in float32): 2⁻²³, float32's machine epsilon.</summary>
    internal const double Float32Epsilon = 1.0 / 8388608;

    /// <summary>ε of the probability clamp for float64 scores: 2⁻⁵², float64's machine epsilon.</summary>
    internal const double Float64Epsilon = 1.0 / 4503599627370496;

    /// <summary>The user-facing name of an option of <see cref="DenseHeadKdTermOptions"/>, e.g. <c>options.Layout</c>.</summary>
    public static string OptionName(string property) => $"options.{property}";

    /// <summary>What the options alone decide, checked when the term is built.</summary>
    /// <exception cref="ArgumentException">An enum value is undefined, a stride is not finite and positive, the flattened layouts lack strides, or <see cref="DenseScoreLayout.Concatenated"/> is combined with every-call recording.</exception>
    public static void ValidateOptions(DenseHeadKdTermOptions options)
    {
        if (!Enum.IsDefined(options.Layout))
        {
            throw new ArgumentOutOfRangeException(
                OptionName(nameof(options.Layout)), options.Layout,
                $"{OptionName(nameof(options.Layout))} must be PerLevelMaps, FlattenedPerLevel or Concatenated; got {options.Layout}.");
        }

        if (!Enum.IsDefined(options.ScoreKind))
        {
            throw new ArgumentOutOfRangeException(
                OptionName(nameof(options.ScoreKind)), options.ScoreKind,
                $"{OptionName(nameof(options.ScoreKind))} must be Logits or Probabilities; got {options.ScoreKind}.");
        }

        Guard.Strides(options.Strides, OptionName(nameof(options.Strides)));
        if (options.Strides is null && options.Layout != DenseScoreLayout.PerLevelMaps)
        {
            throw new ArgumentException(
                $"{OptionName(nameof(options.Strides))} is required with {OptionName(nameof(options.Layout))} = {options.Layout} "
                + $"({Describe(options.Layout)}): such a tensor does not say its levels' H_l × W_l. Give the stride of each level, finest first (e.g. "
                + "[8, 16, 32, 64, 128] for RetinaNet's P3–P7); level l is then ⌈H / s_l⌉ × ⌈W / s_l⌉ cells of the batch's image size.",
                OptionName(nameof(options.Strides)));
        }

        if (options.Layout == DenseScoreLayout.Concatenated && options.RecordEveryCall)
        {
            throw new ArgumentException(
                $"{OptionName(nameof(options.RecordEveryCall))} records one level per call of the tapped module, but with "
                + $"{OptionName(nameof(options.Layout))} = Concatenated one output holds every level: tap the module that concatenates "
                + "them with RecordEveryCall = false, or tap a module called once per level with Layout = FlattenedPerLevel or PerLevelMaps.",
                OptionName(nameof(options.RecordEveryCall)));
        }
    }

    /// <summary>
    /// The recorded outputs of one head as per-level logit maps [B, A·K, H_l, W_l] (float32, or float64 for float64
    /// scores, when they were probabilities; as recorded otherwise) and the level sizes.
    /// </summary>
    /// <param name="outputs">The tensors the head's tap recorded.</param>
    /// <param name="options">The term's options.</param>
    /// <param name="imageSize">The batch's image size (the level sizes of the flattened layouts), asked for only by them.</param>
    /// <param name="head">The head, for messages, e.g. <c>the teacher's dense head ('bbox_head')</c>.</param>
    /// <exception cref="ArgumentException">No tensor, or the shapes do not fit the layout, the classes and anchors, or the strides.</exception>
    public static (Tensor[] Maps, FeatureMapSize[] Sizes) Read(IReadOnlyList<Tensor> outputs, DenseHeadKdTermOptions options, Func<ImageSize> imageSize, string head)
    {
        if (outputs.Count == 0)
        {
            throw new ArgumentException(
                $"{Capitalised(head)} returned no tensor: {OptionName(nameof(options.ScoresItem))} ({options.ScoresItem}) must name the item of its "
                + "output that holds the class scores.",
                OptionName(nameof(options.ScoresItem)));
        }

        for (var index = 0; index < outputs.Count; index++)
        {
            Guard.Alive(outputs[index], $"output {index} of {head}");
        }

        var (maps, sizes) = options.Layout switch
        {
            DenseScoreLayout.FlattenedPerLevel => ReadFlattened(outputs, options, imageSize(), head),
            DenseScoreLayout.Concatenated => ReadConcatenated(outputs, options, imageSize(), head),
            _ => ReadMaps(outputs, options, head),
        };
        if (options.ScoreKind == DenseScoreKind.Probabilities)
        {
            maps = [.. maps.Select(map => Logits(map, options.Loss.Activation))];
        }

        return (maps, sizes);
    }

    private static (Tensor[] Maps, FeatureMapSize[] Sizes) ReadMaps(IReadOnlyList<Tensor> outputs, DenseHeadKdTermOptions options, string head)
    {
        if (outputs.Any(output => output.dim() != 4))
        {
            throw LayoutError(outputs, options, head);
        }

        var channels = (long)options.Loss.AnchorsPerLocation * options.Loss.Classes;
        for (var level = 0; level < outputs.Count; level++)
        {
            if (outputs[level].shape[1] != channels)
            {
                throw new ArgumentException(
                    $"Level {level} of {head} has {outputs[level].shape[1]} channels ({Guard.Shape(outputs[level])}), but "
                    + $"{OptionName(nameof(options.Loss))} gives A·K = AnchorsPerLocation·Classes = {options.Loss.AnchorsPerLocation}·{options.Loss.Classes} = {channels} "
                    + $"(channel a·K + k holds class k of anchor a). Fix {OptionName(nameof(options.Loss))}.{nameof(DecoupledDenseKdLossOptions.Classes)} "
                    + $"or {nameof(DecoupledDenseKdLossOptions.AnchorsPerLocation)}.",
                    OptionName(nameof(options.Loss)));
            }
        }

        return ([.. outputs], [.. outputs.Select(output => new FeatureMapSize((int)output.shape[2], (int)output.shape[3]))]);
    }

    private static (Tensor[] Maps, FeatureMapSize[] Sizes) ReadFlattened(IReadOnlyList<Tensor> outputs, DenseHeadKdTermOptions options, ImageSize imageSize, string head)
    {
        var strides = options.Strides!;
        if (!outputs.All(output => IsFlat(output, options)) || (outputs.Count == 1 && strides.Count > 1))
        {
            throw LayoutError(outputs, options, head);
        }

        if (outputs.Count != strides.Count)
        {
            throw new ArgumentException(
                $"{OptionName(nameof(options.Strides))} lists {strides.Count} stride(s), but {head} returned {outputs.Count} level(s) "
                + $"({Shapes(outputs)}; one [B, H_l·W_l·A, K] tensor per level with Layout = FlattenedPerLevel): give one stride per level, finest first.",
                OptionName(nameof(options.Strides)));
        }

        var sizes = strides.Select(stride => Cells(imageSize, stride)).ToArray();
        var anchors = options.Loss.AnchorsPerLocation;
        for (var level = 0; level < outputs.Count; level++)
        {
            var expected = (long)sizes[level].Height * sizes[level].Width * anchors;
            if (outputs[level].shape[1] != expected)
            {
                throw new ArgumentException(
                    $"Level {level} of {head} holds {outputs[level].shape[1]} rows ({Guard.Shape(outputs[level])}), but at "
                    + $"{OptionName(nameof(options.Strides))}[{level}] = {strides[level]} the {imageSize.Height}×{imageSize.Width} batch (imageSize) has "
                    + $"{sizes[level].Height}×{sizes[level].Width} cells, × A = {anchors} anchor(s) = {expected} rows.{RowHint(outputs[level].shape[1], anchors, imageSize, [strides[level]])}",
                    OptionName(nameof(options.Strides)));
            }
        }

        return ([.. outputs.Select((output, level) => Map(output, sizes[level], options))], sizes);
    }

    private static (Tensor[] Maps, FeatureMapSize[] Sizes) ReadConcatenated(IReadOnlyList<Tensor> outputs, DenseHeadKdTermOptions options, ImageSize imageSize, string head)
    {
        if (outputs.Count != 1 || !IsFlat(outputs[0], options))
        {
            throw LayoutError(outputs, options, head);
        }

        var strides = options.Strides!;
        var sizes = strides.Select(stride => Cells(imageSize, stride)).ToArray();
        var anchors = options.Loss.AnchorsPerLocation;
        var rows = sizes.Select(size => (long)size.Height * size.Width * anchors).ToArray();
        var scores = outputs[0];
        if (scores.shape[1] != rows.Sum())
        {
            throw new ArgumentException(
                $"{Capitalised(head)} holds {scores.shape[1]} rows ({Guard.Shape(scores)}), but {OptionName(nameof(options.Strides))} "
                + $"[{string.Join(", ", strides)}] on the {imageSize.Height}×{imageSize.Width} batch (imageSize) give levels of "
                + $"{string.Join(", ", sizes.Select(size => $"{size.Height}×{size.Width}"))} cells, × A = {anchors} anchor(s) = "
                + $"{string.Join(" + ", rows)} = {rows.Sum()} rows.{RowHint(scores.shape[1], anchors, imageSize, strides)}",
                OptionName(nameof(options.Strides)));
        }

        var levels = scores.split(rows, 1);
        return ([.. levels.Select((level, index) => Map(level, sizes[index], options))], sizes);
    }

    /// <summary>[B, H·W·A, K] (row (h·W + w)·A + a) → [B, A·K, H, W] (channel a·K + k): the inverse of the heads' permute and reshape.</summary>
    private static Tensor Map(Tensor flat, FeatureMapSize size, DenseHeadKdTermOptions options)
        => flat.reshape(flat.shape[0], size.Height, size.Width, (long)options.Loss.AnchorsPerLocation * options.Loss.Classes).permute(0, 3, 1, 2);

    /// <summary>
    /// Probabilities → logits in float32 (float64 for float64 scores): sigmoid log p′ − log(1 − p′), softmax log p′, with p′
    /// clamped to [ε, 1 − ε] (sigmoid) or [ε, 1] (softmax), ε the compute dtype's machine epsilon, so 0 and 1 give finite logits.
    /// </summary>
    private static Tensor Logits(Tensor probabilities, DenseKdActivation activation)
    {
        var wide = probabilities.dtype == ScalarType.Float64;
        var epsilon = wide ? Float64Epsilon : Float32Epsilon;
        using var low = epsilon.ToScalar();
        var p = wide ? probabilities : probabilities.to_type(ScalarType.Float32);
        if (activation == DenseKdActivation.Softmax)
        {
            return p.clamp_min(low).log();
        }

        using var high = (1 - epsilon).ToScalar();
        var clamped = p.clamp(low, high);
        return clamped.log() - clamped.negative().log1p();
    }

    private static bool IsFlat(Tensor output, DenseHeadKdTermOptions options) => output.dim() == 3 && output.shape[2] == options.Loss.Classes;

    /// <summary>The cells of a level of stride <paramref name="stride"/>: ⌈H / s⌉ × ⌈W / s⌉ (stride-2 convolutions and pooling with padding).</summary>
    private static FeatureMapSize Cells(ImageSize imageSize, double stride)
        => new((int)Math.Ceiling((imageSize.Height / stride) - 1e-9), (int)Math.Ceiling((imageSize.Width / stride) - 1e-9));

    /// <summary>What a row count that does not fit the strides suggests: A does not divide it, the network rounds down, or another stride fits.</summary>
    private static string RowHint(long rows, int anchors, ImageSize imageSize, IReadOnlyList<double> strides)
    {
        if (rows % anchors != 0)
        {
            return $" {rows} is not a multiple of A = options.Loss.AnchorsPerLocation = {anchors}: check it.";
        }

        var floored = strides.Sum(stride => (long)Math.Floor((imageSize.Height / stride) + 1e-9) * (long)Math.Floor((imageSize.Width / stride) + 1e-9) * anchors);
        if (floored == rows)
        {
            return $" The head rounds the level sizes down (⌊H / s⌋): pad the batch to a multiple of the largest stride ({strides.Max()}), as detection pipelines do.";
        }

        if (strides.Count == 1)
        {
            for (var stride = 1; stride <= 1024; stride *= 2)
            {
                var cells = Cells(imageSize, stride);
                if ((long)cells.Height * cells.Width * anchors == rows)
                {
                    return $" {rows} rows are what stride {stride} gives ({cells.Height}×{cells.Width} cells): check the stride, and that imageSize is the size of the batch the models saw.";
                }
            }
        }

        return " Check the strides, A, and that imageSize is the size of the batch the models saw (height first).";
    }

    /// <summary>A layout that does not fit: names options.Layout, what the shapes suggest, and whether they look like probabilities.</summary>
    private static ArgumentException LayoutError(IReadOnlyList<Tensor> outputs, DenseHeadKdTermOptions options, string head)
        => new(
            $"{OptionName(nameof(options.Layout))} is {options.Layout} ({Describe(options.Layout)}), but {head} returned {Shapes(outputs)}. "
            + Suggestion(outputs, options) + ProbabilityHint(outputs, options),
            OptionName(nameof(options.Layout)));

    private static string Suggestion(IReadOnlyList<Tensor> outputs, DenseHeadKdTermOptions options)
    {
        var (classes, anchors) = (options.Loss.Classes, options.Loss.AnchorsPerLocation);
        const string Strides = "with options.Strides giving each level's stride, finest first";
        if (outputs.Count > 0 && outputs.All(output => output.dim() == 4))
        {
            return "These shapes suggest Layout = DenseScoreLayout.PerLevelMaps (one [B, A·K, H_l, W_l] map per level).";
        }

        if (outputs.Count > 1 && outputs.All(output => IsFlat(output, options)))
        {
            return $"These shapes suggest Layout = DenseScoreLayout.FlattenedPerLevel (one [B, H_l·W_l·A, K] tensor per level, K = {classes}), {Strides}.";
        }

        if (outputs.Count == 1 && IsFlat(outputs[0], options))
        {
            return options.Strides is { Count: > 1 } strides
                ? $"This shape suggests Layout = DenseScoreLayout.Concatenated (the {strides.Count} levels' [B, H_l·W_l·A, K] rows in one tensor, K = {classes})."
                : $"This shape suggests Layout = DenseScoreLayout.Concatenated (every level's [B, H_l·W_l·A, K] rows in one tensor, K = {classes}), {Strides}; "
                  + "or FlattenedPerLevel for a head with a single level.";
        }

        return $"They fit none of the layouts for K = options.Loss.Classes = {classes} and A = options.Loss.AnchorsPerLocation = {anchors}: "
            + "PerLevelMaps takes one [B, A·K, H_l, W_l] map per level, FlattenedPerLevel one [B, H_l·W_l·A, K] tensor per level, Concatenated one "
            + "[B, Σ_l H_l·W_l·A, K] tensor. Check options.Loss.Classes, and options.ScoresItem for a head that returns a tuple.";
    }

    /// <summary>On the error path only (one host read): whether logits were declared but every value lies in [0, 1].</summary>
    private static string ProbabilityHint(IReadOnlyList<Tensor> outputs, DenseHeadKdTermOptions options)
    {
        if (options.ScoreKind != DenseScoreKind.Logits || outputs.Count == 0 || outputs.Any(output => !output.is_floating_point() || output.numel() == 0))
        {
            return "";
        }

        using var scope = torch.NewDisposeScope();
        var probabilities = outputs.All(output => output.detach().ge(HookScalars.Zero).logical_and(output.detach().le(HookScalars.One)).all().item<bool>());
        return probabilities
            ? $" Every value lies in [0, 1]: if the head applies a sigmoid or softmax, also set {OptionName(nameof(options.ScoreKind))} = DenseScoreKind.Probabilities."
            : "";
    }

    private static string Describe(DenseScoreLayout layout)
        => layout switch
        {
            DenseScoreLayout.FlattenedPerLevel => "one [B, H_l·W_l·A, K] tensor per level",
            DenseScoreLayout.Concatenated => "one [B, Σ_l H_l·W_l·A, K] tensor holding every level",
            _ => "one [B, A·K, H_l, W_l] map per level",
        };

    private static string Capitalised(string text) => text.Length == 0 ? text : char.ToUpperInvariant(text[0]) + text[1..];

    private static string Shapes(IReadOnlyList<Tensor> outputs) => outputs.Count == 0 ? "no tensor" : string.Join(", ", outputs.Select(Guard.Shape));
}
