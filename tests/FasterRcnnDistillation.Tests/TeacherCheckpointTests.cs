using FasterRcnnDistillation.Data;
using FasterRcnnDistillation.Model;
using static TorchSharp.torch;

namespace FasterRcnnDistillation.Tests;

public sealed class TeacherCheckpointTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("frcnn-teacher-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void The_shipped_teacher_is_the_released_file_and_loads_as_a_float32_teacher()
    {
        TeacherCheckpoint.Problem(TeacherCheckpoint.ShippedPath).Should().BeNull("the committed file must match the SHA-256 the sample checks");

        using var teacher = TeacherCheckpoint.Load(TeacherCheckpoint.ShippedPath, SyntheticShapes.ClassNames.Count);

        teacher.parameters().Select(p => p.dtype).Distinct().Should().Equal(float32);
        teacher.Config.Summary.Should().Be(DetectorConfig.Teacher(SyntheticShapes.ClassNames.Count).Summary);
    }

    [Fact]
    public void A_half_precision_save_loads_back_as_the_weights_rounded_to_float16()
    {
        manual_seed(4);
        using var original = new FasterRcnn(DetectorConfig.Teacher(5));
        string path = Path.Combine(folder, "half.bin");

        TeacherCheckpoint.SaveHalf(original, path);
        using var loaded = TeacherCheckpoint.Load(path, 5);
        using var loadedFor512 = TeacherCheckpoint.Load(path, 5, roiSamples: 512);

        (loaded.Config.RoiSamples, loadedFor512.Config.RoiSamples).Should().Be((128, 512), "the sample count is the run's, not the file's");

        original.parameters().Select(p => p.dtype).Distinct().Should().Equal(new[] { float32 }, "saving in half must leave the model itself untouched");
        new FileInfo(path).Length.Should().BeLessThan(15_000_000, "the shipped teacher must stay well under 30 MB");
        var expected = original.state_dict();
        foreach (var (name, value) in loaded.state_dict())
        {
            var rounded = value.is_floating_point() ? expected[name].to(float16).to(float32) : expected[name];
            value.dtype.Should().Be(expected[name].dtype, name);
            value.allclose(rounded, rtol: 0, atol: 0).Should().BeTrue($"{name} must be the original rounded to float16");
        }
    }

    [Fact]
    public void A_checkpoint_of_another_architecture_is_refused_naming_the_file_and_the_teacher()
    {
        string path = Path.Combine(folder, "tiny.bin");
        using (var tiny = new FasterRcnn(TinyDetector.Config(16, 16)))
        {
            tiny.save(path);
        }

        FluentActions.Invoking(() => TeacherCheckpoint.Load(path, 5)).Should().Throw<ArgumentException>()
            .WithMessage($"'{path}' is not a checkpoint of this sample's teacher (blocks 3,4,6,3, width 32, FPN 64, head 256, classes 5): *Train one with the 'teacher' command*");
    }

    [Fact]
    public void A_changed_or_missing_file_is_reported_in_one_line()
    {
        string path = Path.Combine(folder, "teacher.fp16.bin");
        File.WriteAllText(path, "version https://git-lfs.github.com/spec/v1\n");

        TeacherCheckpoint.Problem(path, expectedSha256: new string('0', 64)).Should()
            .Match("The shipped teacher '*' is not the file this sample was released with (SHA-256 *, expected 0000*; 43 bytes): it may be a Git LFS pointer*");
        TeacherCheckpoint.Problem(Path.Combine(folder, "nope.bin"), expectedSha256: null).Should()
            .Match("The teacher checkpoint '*nope.bin' does not exist: run the 'teacher' command first*");
        TeacherCheckpoint.Problem(path, expectedSha256: null).Should().BeNull();
    }
}
