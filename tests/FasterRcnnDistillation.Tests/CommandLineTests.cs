using FasterRcnnDistillation.Cli;

namespace FasterRcnnDistillation.Tests;

/// <summary>User errors on the command line: one clear message before any work starts.</summary>
public class CommandLineTests
{
    [Fact]
    public void Options_take_their_value_after_an_equals_sign_too()
    {
        var options = SampleOptions.Parse(["teacher", "--seed=5", "--device=cpu", "--epochs", "2"]);

        (options.Seed, options.Device, options.StudentEpochs).Should().Be((5, "cpu", 2));
        SampleOptions.Parse(["distill", "--output", "out"]).TeacherPath.Should().Be(Path.Combine("out", "teacher.bin"));
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
            var distill = SampleOptions.Parse(["distill", "--output", folder]);

            FluentActions.Invoking(() => missingJson.Validate(() => false)).Should().Throw<ArgumentException>().WithMessage("--coco-train: the annotations file '*nope.json' does not exist.");
            FluentActions.Invoking(() => missingImages.Validate(() => false)).Should().Throw<ArgumentException>().WithMessage("--coco-train: the image folder '*images' does not exist.");
            FluentActions.Invoking(() => onlyOne.Validate(() => false)).Should().Throw<ArgumentException>().WithMessage("Give both --coco-train and --coco-val, or neither.");
            FluentActions.Invoking(() => distill.Validate(() => false)).Should().Throw<ArgumentException>().WithMessage("distill needs a teacher checkpoint at '*teacher.bin': run the 'teacher' command first*");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
