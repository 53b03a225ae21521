using FasterRcnnDistillation.Cli;
using FasterRcnnDistillation.Model;

namespace FasterRcnnDistillation.Tests;

/// <summary>User errors on the command line: one clear message before any work starts.</summary>
public class CommandLineTests
{
    [Fact]
    public void Options_take_their_value_after_an_equals_sign_too()
    {
        var options = SampleOptions.Parse(["teacher", "--seed=5", "--device=cpu", "--epochs", "2"]);

        (options.Seed, options.Device, options.StudentEpochs).Should().Be((5, "cpu", 2));
        SampleOptions.Parse(["distill", "--output", "out"]).TeacherPath.Should().Be(TeacherCheckpoint.ShippedPath);
        SampleOptions.Parse(["distill", "--output", "out", "--teacher=kept.bin"]).TeacherPath.Should().Be("kept.bin");
    }

    [Theory]
    [InlineData("--device", "gpu", "--device expects cpu or cuda, got 'gpu'.")]
    [InlineData("--seed", null, "Option --seed needs a value (e.g. --seed VALUE or --seed=VALUE).")]
    public void Bad_values_are_named(string name, string? value, string message)
    {
        string[] args = value is null ? [name] : [name, value];

        FluentActions.Invoking(() => SampleOptions.Parse(args)).Should().Throw<ArgumentException>().WithMessage(message);
    }

    [Fact]
    public void A_missing_gpu_is_reported_before_any_work()
    {
        var options = SampleOptions.Parse(["--device", "cuda"]);

        FluentActions.Invoking(() => options.Validate(cudaAvailable: () => false))
            .Should().Throw<ArgumentException>().WithMessage("--device cuda was requested but no CUDA device is available*--device cpu*");
    }

    [Fact]
    public void Missing_coco_paths_and_a_missing_teacher_are_reported_before_any_work()
    {
        var folder = Directory.CreateTempSubdirectory().FullName;
        try
        {
            var json = Path.Combine(folder, "train.json");
            File.WriteAllText(json, "{}");
            var missingJson = SampleOptions.Parse(["--coco-train", $"{folder}/nope.json:{folder}", "--coco-val", $"{json}:{folder}"]);
            var missingImages = SampleOptions.Parse(["--coco-train", $"{json}:{folder}/images", "--coco-val", $"{json}:{folder}"]);
            var onlyOne = SampleOptions.Parse(["--coco-train", $"{json}:{folder}"]);
            var distill = SampleOptions.Parse(["distill", "--teacher", $"{folder}/none.bin"]);

            FluentActions.Invoking(() => missingJson.Validate(() => false)).Should().Throw<ArgumentException>().WithMessage("--coco-train: the annotations file '*nope.json' does not exist.");
            FluentActions.Invoking(() => missingImages.Validate(() => false)).Should().Throw<ArgumentException>().WithMessage("--coco-train: the image folder '*images' does not exist.");
            FluentActions.Invoking(() => onlyOne.Validate(() => false)).Should().Throw<ArgumentException>().WithMessage("Give both --coco-train and --coco-val, or neither.");
            FluentActions.Invoking(() => distill.Validate(() => false)).Should().Throw<ArgumentException>().WithMessage("The teacher checkpoint '*none.bin' does not exist: run the 'teacher' command first*");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void Flags_for_long_runs_are_parsed()
    {
        var options = SampleOptions.Parse(["teacher", "--resume", "--checkpoint-every", "50", "--validate-every=200"]);

        (options.Resume, options.CheckpointEvery, options.ValidationInterval).Should().Be((true, 50, 200));
        (SampleOptions.Parse(["teacher"]).ValidationInterval, SampleOptions.Parse(["compare"]).ValidationInterval).Should().Be((1000, 0));
        (SampleOptions.Parse(["teacher"]).TrainImageCount, SampleOptions.Parse(["distill"]).TrainImageCount).Should().Be((72_000, 7_200));
        SampleOptions.Parse(["teacher", "--train-images", "16"]).TrainImageCount.Should().Be(16);
        SampleOptions.Parse(["teacher"]).Resume.Should().BeFalse();
        FluentActions.Invoking(() => SampleOptions.Parse(["--checkpoint-every", "0"])).Should().Throw<ArgumentException>()
            .WithMessage("--checkpoint-every expects an integer ≥ 1, got '0'.");
    }

    [Fact]
    public void The_roi_sample_count_is_an_option_for_every_model_of_the_run()
    {
        SampleOptions.Parse(["teacher"]).RoiSamples.Should().Be(128);
        SampleOptions.Parse(["distill", "--roi-samples", "512"]).RoiSamples.Should().Be(512);
        FluentActions.Invoking(() => SampleOptions.Parse(["--roi-samples=0"])).Should().Throw<ArgumentException>()
            .WithMessage("--roi-samples expects an integer ≥ 1, got '0'.");
    }

    [Fact]
    public void The_balance_schedule_and_optimiser_options_are_parsed_and_bad_values_named()
    {
        var options = SampleOptions.Parse(["distill", "--kd-balance", "0.3", "--kd-balance-per", "term", "--kd-schedule", "delay:300", "--optimizer", "sgd"]);

        (options.KdBalance, options.KdBalancePerLevel, options.KdSchedule, options.Optimizer, options.LearningRate).Should().Be((0.3, false, "delay:300", "sgd", 0.02));
        SampleOptions.Parse(["distill", "--kd-balance", "off"]).KdBalance.Should().BeNull();
        SampleOptions.Parse(["distill", "--lr", "0.005"]).LearningRate.Should().Be(0.005);
        SampleOptions.Parse(["distill"]).LearningRate.Should().Be(1e-3);
        FluentActions.Invoking(() => SampleOptions.Parse(["--kd-balance", "0"])).Should().Throw<ArgumentException>().WithMessage("--kd-balance expects a finite number > 0 (or off), got '0'.");
        FluentActions.Invoking(() => SampleOptions.Parse(["--kd-schedule", "delay:x"])).Should().Throw<ArgumentException>().WithMessage("--kd-schedule expects constant, linear-decay, cosine-decay, delay:N or warmup:N*got 'delay:x'.");
        FluentActions.Invoking(() => SampleOptions.Parse(["--kd-balance-per", "cell"])).Should().Throw<ArgumentException>().WithMessage("--kd-balance-per expects level or term, got 'cell'.");
        FluentActions.Invoking(() => SampleOptions.Parse(["--optimizer", "adam"])).Should().Throw<ArgumentException>().WithMessage("--optimizer expects adamw or sgd, got 'adam'.");
    }

    [Fact]
    public void The_balance_parts_threads_and_onednn_options_are_parsed_and_bad_values_named()
    {
        var options = SampleOptions.Parse(["distill", "--kd-balance-parts", "background", "--threads", "1", "--onednn", "off"]);

        (options.KdBalanceBackgroundOnly, options.Threads, options.OneDnnAllowed).Should().Be((true, 1, false));
        var defaults = SampleOptions.Parse(["distill"]);
        (defaults.KdBalanceBackgroundOnly, defaults.Threads, defaults.OneDnnAllowed).Should().Be((false, (int?)null, true));
        FluentActions.Invoking(() => SampleOptions.Parse(["--kd-balance-parts", "object"])).Should().Throw<ArgumentException>().WithMessage("--kd-balance-parts expects all or background, got 'object'.");
        FluentActions.Invoking(() => SampleOptions.Parse(["--threads", "0"])).Should().Throw<ArgumentException>().WithMessage("--threads *0*");
        FluentActions.Invoking(() => SampleOptions.Parse(["--onednn", "on"])).Should().Throw<ArgumentException>().WithMessage("--onednn expects auto or off, got 'on'.");
        SampleOptions.Parse(["distill", "--teacher-dtype", "bfloat16"]).TeacherBfloat16.Should().BeTrue();
        SampleOptions.Parse(["distill"]).TeacherBfloat16.Should().BeFalse();
        FluentActions.Invoking(() => SampleOptions.Parse(["--teacher-dtype", "float16"])).Should().Throw<ArgumentException>().WithMessage("--teacher-dtype expects float32 or bfloat16, got 'float16'.");
        FluentActions.Invoking(() => SampleOptions.Parse(["distill", "--teacher-dtype", "bfloat16", "--proposal-kd", "on"]).Validate(() => false))
            .Should().Throw<ArgumentException>().WithMessage("--teacher-dtype bfloat16 runs only the teacher's backbone and neck in bfloat16: use it with --proposal-kd off.");
    }

    [Theory]
    [InlineData("--image-size", "128", "*trained on the built-in data at 96 px: for --image-size 128 train one with the 'teacher' command and pass it with --teacher FILE.")]
    public void The_shipped_teacher_is_refused_for_data_it_was_not_trained_on(string name, string value, string message)
    {
        var options = SampleOptions.Parse(["compare", name, value]);

        FluentActions.Invoking(() => options.Validate(() => false)).Should().Throw<ArgumentException>().WithMessage(message);
        FluentActions.Invoking(() => (options with { Teacher = TeacherCheckpoint.ShippedPath }).Validate(() => false)).Should().NotThrow();
    }
}
