using System.Security.Cryptography;
using TorchSharp;
using static TorchSharp.torch;

namespace FasterRcnnDistillation.Model;

/// <summary>
/// Teacher checkpoints: TorchSharp <c>save</c> files of a <see cref="FasterRcnn"/> with
/// <see cref="DetectorConfig.Teacher"/>'s architecture, in float32 (what <c>teacher</c> trains) or float16 (half the
/// size, what the sample ships; converted to float32 on load). The shipped one is <see cref="ShippedPath"/>, checked
/// against <see cref="ShippedSha256"/> before it is read.
/// </summary>
public static class TeacherCheckpoint
{
    /// <summary>File name of the shipped teacher, beside the executable in <c>Pretrained/</c>.</summary>
    public const string ShippedFileName = "teacher.fp16.bin";

    /// <summary>SHA-256 (lower-case hex) of the shipped teacher file; RESULTS.md records the run that produced it.</summary>
    public const string ShippedSha256 = "dbaa72dfc1a0426925b58b425e1b3572f11fc804696e47045a7544548a772780";

    /// <summary>The shipped teacher: <c>Pretrained/teacher.fp16.bin</c> beside the executable.</summary>
    public static string ShippedPath => Path.Combine(AppContext.BaseDirectory, "Pretrained", ShippedFileName);

    /// <summary>
    /// Checks that <paramref name="path"/> exists and, for the shipped teacher, that its SHA-256 matches; returns null
    /// when it is usable, else one line saying what is wrong and what to do.
    /// </summary>
    public static string? Problem(string path) => Problem(path, path == ShippedPath ? ShippedSha256 : null);

    /// <summary>
    /// Checks that <paramref name="path"/> exists and, when <paramref name="expectedSha256"/> is given, that its SHA-256
    /// matches; returns null when it is usable, else one line saying what is wrong and what to do.
    /// </summary>
    public static string? Problem(string path, string? expectedSha256)
    {
        if (!File.Exists(path))
        {
            return expectedSha256 is not null
                ? $"The shipped teacher '{path}' is missing: restore samples/FasterRcnnDistillation/Pretrained/{ShippedFileName} (git checkout), or train one with the 'teacher' command and pass --teacher FILE."
                : $"The teacher checkpoint '{path}' does not exist: run the 'teacher' command first (it writes <output>/teacher.bin), or pass another --teacher FILE.";
        }

        if (expectedSha256 is not null)
        {
            string actual = Sha256Of(path);
            if (actual != expectedSha256)
            {
                return $"The shipped teacher '{path}' is not the file this sample was released with (SHA-256 {actual}, expected {expectedSha256}; "
                    + $"{new FileInfo(path).Length:N0} bytes): it may be a Git LFS pointer or a partial download. Restore it (git checkout), or train one with 'teacher' and pass --teacher FILE.";
            }
        }

        return null;
    }

    /// <summary>
    /// Reads a teacher of <paramref name="classes"/> classes from <paramref name="path"/> (float32 or float16 file) as a
    /// float32 model. Throws <see cref="ArgumentException"/> naming the file when it is not a checkpoint of this
    /// architecture. <paramref name="roiSamples"/> (not stored in the file) is how many RoIs per image the teacher samples
    /// when it runs for proposal KD.
    /// </summary>
    public static FasterRcnn Load(string path, int classes, int roiSamples = DetectorConfig.DefaultRoiSamples)
    {
        var config = DetectorConfig.Teacher(classes) with { RoiSamples = roiSamples };
        var teacher = new FasterRcnn(config);
        try
        {
            try
            {
                teacher.load(path);
            }
            catch (ArgumentException mismatch) when (mismatch.Message.Contains("data types", StringComparison.Ordinal))
            {
                teacher.to(float16).load(path);
                teacher.to(float32);
            }
        }
        catch (Exception error) when (error is ArgumentException or IOException or InvalidOperationException)
        {
            teacher.Dispose();
            throw new ArgumentException(
                $"'{path}' is not a checkpoint of this sample's teacher ({config.Summary}): {error.Message} "
                + "Train one with the 'teacher' command (same --image-size and data) and pass --teacher FILE.", error);
        }

        return teacher;
    }

    /// <summary>Saves <paramref name="teacher"/> in float16 to <paramref name="path"/>, leaving the model itself untouched.</summary>
    public static void SaveHalf(FasterRcnn teacher, string path)
    {
        using var copy = new FasterRcnn(teacher.Config);
        copy.load_state_dict(teacher.state_dict());
        copy.to(float16).save(path);
    }

    /// <summary>SHA-256 of a file, lower-case hex.</summary>
    public static string Sha256Of(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
