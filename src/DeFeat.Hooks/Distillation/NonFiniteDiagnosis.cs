using DeFeat.Losses.Adaptation;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Distillation;

/// <summary>
/// The opt-in finiteness check of <see cref="DeFeatDistiller"/> (<see cref="DeFeatDistillerOptions.CheckFinite"/>):
/// one host read of the total per step; when it is not finite, a diagnosis that names the non-finite terms and the
/// first level (and whose tensor) that makes them so.
/// </summary>
internal static class NonFiniteDiagnosis
{
    /// <summary>Throws when <paramref name="result"/>'s total is not finite; the message names the terms and the level.</summary>
    /// <exception cref="InvalidOperationException">A term is NaN or infinite.</exception>
    public static void ThrowIfNotFinite(
        DistillationLosses result,
        IReadOnlyList<Tensor> teacherFeatures,
        IReadOnlyList<Tensor> studentFeatures,
        IReadOnlyList<Tensor> masks,
        FeatureAdapters? adapters,
        (Tensor Teacher, Tensor Student)? logits,
        DeFeatDistillerOptions options)
    {
        if (result.Total.isfinite().item<bool>())
        {
            return;
        }

        using var scope = NewDisposeScope();
        var terms = result.ToDictionary()
            .Where(term => term.Key != DistillationLosses.TotalName && !term.Value.isfinite().item<bool>())
            .Select(term => term.Key);
        throw new InvalidOperationException(
            $"DeFeat loss terms {string.Join(", ", terms)} are not finite at this step: "
            + Cause(teacherFeatures, studentFeatures, masks, adapters, logits, options)
            + ". (This check is on because options.CheckFinite is true; it costs one host read per step.)");
    }

    private static string Cause(
        IReadOnlyList<Tensor> teacherFeatures,
        IReadOnlyList<Tensor> studentFeatures,
        IReadOnlyList<Tensor> masks,
        FeatureAdapters? adapters,
        (Tensor Teacher, Tensor Student)? logits,
        DeFeatDistillerOptions options)
    {
        var levels = teacherFeatures.Count;
        for (var level = 0; level < levels; level++)
        {
            var where = $"level {level} (of {levels}, finest first)";
            if (!AllFinite(studentFeatures[level]))
            {
                return $"{where} of the student's neck output (options.{nameof(options.StudentNeckPath)} '{options.StudentNeckPath}') holds NaN or infinite values";
            }

            if (!AllFinite(teacherFeatures[level]))
            {
                return $"{where} of the teacher's neck output (options.{nameof(options.TeacherNeckPath)} '{options.TeacherNeckPath}') holds NaN or infinite values";
            }

            if (!AllFinite(masks[level]))
            {
                return $"the object mask of {where} holds NaN or infinite values (check the GT boxes)";
            }

            using var noGrad = no_grad();
            var adapted = adapters is null ? studentFeatures[level] : adapters[level].call(studentFeatures[level]);
            if (!AllFinite(adapted))
            {
                return $"the adaptation layer of {where} outputs NaN or infinite values from finite student features (its weights have diverged)";
            }

            var difference = adapted.to_type(ScalarType.Float32) - teacherFeatures[level].to_type(ScalarType.Float32);
            if (!AllFinite((difference * difference).sum()))
            {
                return $"the squared difference of student and teacher features overflows float32 at {where}";
            }
        }

        if (logits is { } pair)
        {
            if (!AllFinite(pair.Student))
            {
                return "the student RoI head's classification logits hold NaN or infinite values";
            }

            if (!AllFinite(pair.Teacher))
            {
                return "the teacher RoI head's classification logits hold NaN or infinite values";
            }
        }

        return "every recorded input is finite; the KD weight schedule or the loss weights make a term overflow";
    }

    private static bool AllFinite(Tensor tensor) => tensor.isfinite().all().item<bool>();
}
