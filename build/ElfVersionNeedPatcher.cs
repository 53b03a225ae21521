// Compiled twice: by MSBuild's RoslynCodeTaskFactory (build/LibTorchSharp.Compat.targets), where it provides the
// PatchLibTorchSharpVersionNeed task, and by the unit tests (with DEFEAT_ELF_TESTS defined), which test the
// ELF editing without MSBuild. MSBuild compiles inline tasks against netstandard2.0: keep to that API.
using System;
using System.IO;
using System.Text;

#if !DEFEAT_ELF_TESTS
/// <summary>
/// MSBuild task: marks the <c>GLIBCXX_3.4.32</c> version need of every <c>libLibTorchSharp.so</c> below
/// <see cref="Directory"/> weak, when this machine's libstdc++ lacks that version.
/// </summary>
public sealed class PatchLibTorchSharpVersionNeed : Microsoft.Build.Utilities.Task
{
    /// <summary>The output folder to scan (build output or publish folder).</summary>
    [Microsoft.Build.Framework.Required]
    public string Directory { get; set; } = "";

    /// <inheritdoc />
    public override bool Execute()
    {
        if (!System.IO.Directory.Exists(Directory) || !ElfVersionNeedPatcher.HostNeedsPatch())
        {
            return true;
        }

        foreach (var path in System.IO.Directory.EnumerateFiles(Directory, "libLibTorchSharp.so", SearchOption.AllDirectories))
        {
            try
            {
                if (ElfVersionNeedPatcher.PatchFile(path, ElfVersionNeedPatcher.MissingVersion) == VersionNeedPatchResult.Patched)
                {
                    Log.LogMessage(Microsoft.Build.Framework.MessageImportance.High,
                        $"DeFeat: marked {ElfVersionNeedPatcher.MissingVersion} weak in {path} (this machine's libstdc++ lacks it).");
                }
            }
            catch (InvalidDataException e)
            {
                Log.LogError($"DeFeat: cannot patch {path}: {e.Message} Build with -p:DeFeatPatchLibTorchSharp=false to skip the patch.");
                return false;
            }
        }

        return true;
    }
}
#endif

/// <summary>What <see cref="ElfVersionNeedPatcher.Patch"/> did.</summary>
public enum VersionNeedPatchResult
{
    /// <summary>The version need was strong and is now weak.</summary>
    Patched,

    /// <summary>The version need was already weak; nothing changed.</summary>
    AlreadyWeak,

    /// <summary>The file does not need that version at all; nothing changed.</summary>
    NotReferenced,
}

/// <summary>
/// Edits the <c>.gnu.version_r</c> section of a 64-bit little-endian ELF file: sets <c>vna_flags</c> of the
/// <c>Vernaux</c> entry with a given name to <c>VER_FLG_WEAK</c> (2), so that the dynamic loader accepts a
/// libstdc++ without that version.
/// </summary>
public static class ElfVersionNeedPatcher
{
    /// <summary>The version libLibTorchSharp.so needs and older libstdc++ builds lack.</summary>
    public const string MissingVersion = "GLIBCXX_3.4.32";

    /// <summary><c>VER_FLG_WEAK</c> from elf.h.</summary>
    public const ushort VerFlagWeak = 2;

    private const uint ShtGnuVerneed = 0x6ffffffe;

    private static readonly string[] LibStdCxxCandidates =
    {
        "/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
        "/lib/x86_64-linux-gnu/libstdc++.so.6",
        "/usr/lib/aarch64-linux-gnu/libstdc++.so.6",
        "/lib/aarch64-linux-gnu/libstdc++.so.6",
        "/usr/lib64/libstdc++.so.6",
        "/usr/lib/libstdc++.so.6",
    };

    /// <summary>True unless a system libstdc++ is found that already defines <see cref="MissingVersion"/>.</summary>
    public static bool HostNeedsPatch()
    {
        foreach (var candidate in LibStdCxxCandidates)
        {
            if (File.Exists(candidate))
            {
                return !Contains(File.ReadAllBytes(candidate), Encoding.ASCII.GetBytes(MissingVersion + "\0"));
            }
        }

        return true;
    }

    /// <summary>
    /// Patches the file in place when needed. The new content is written to a temporary file that then replaces
    /// the original directory entry, so a hard link into a package cache is never modified.
    /// </summary>
    public static VersionNeedPatchResult PatchFile(string path, string versionName)
    {
        var bytes = File.ReadAllBytes(path);
        var result = Patch(bytes, versionName);
        if (result == VersionNeedPatchResult.Patched)
        {
            var temporary = path + ".defeat-tmp";
            File.WriteAllBytes(temporary, bytes);
            File.Delete(path);
            File.Move(temporary, path);
        }

        return result;
    }

    /// <summary>Patches an ELF image held in memory.</summary>
    /// <exception cref="InvalidDataException">The image is not a well-formed 64-bit little-endian ELF file.</exception>
    public static VersionNeedPatchResult Patch(byte[] elf, string versionName)
    {
        Require(elf.Length >= 64 && elf[0] == 0x7f && elf[1] == (byte)'E' && elf[2] == (byte)'L' && elf[3] == (byte)'F',
            "not an ELF file.");
        Require(elf[4] == 2, $"ELF class {elf[4]} is not ELFCLASS64.");
        Require(elf[5] == 1, $"ELF data encoding {elf[5]} is not little-endian.");

        var sectionHeaderOffset = ReadU64(elf, 0x28);
        var sectionHeaderSize = ReadU16(elf, 0x3A);
        var sectionCount = ReadU16(elf, 0x3C);
        var sectionNamesIndex = ReadU16(elf, 0x3E);
        Require(sectionHeaderSize >= 64, $"section header size {sectionHeaderSize} is below 64 bytes.");
        Require(sectionCount > 0 && sectionNamesIndex < sectionCount, "no section name table.");
        Require(sectionHeaderOffset + (ulong)sectionHeaderSize * sectionCount <= (ulong)elf.Length,
            "section headers lie past the end of the file.");

        Section SectionAt(int index) => Section.Read(elf, (int)sectionHeaderOffset + index * sectionHeaderSize);

        var sectionNames = SectionAt(sectionNamesIndex);
        for (var i = 0; i < sectionCount; i++)
        {
            var section = SectionAt(i);
            if (section.Type != ShtGnuVerneed)
            {
                continue;
            }

            Require(ReadString(elf, sectionNames, section.Name) == ".gnu.version_r",
                "the SHT_GNU_verneed section is not named .gnu.version_r.");
            Require(section.Link < sectionCount, "the .gnu.version_r string table index is out of range.");
            return PatchVersionNeeds(elf, section, SectionAt((int)section.Link), versionName);
        }

        return VersionNeedPatchResult.NotReferenced;
    }

    private static VersionNeedPatchResult PatchVersionNeeds(byte[] elf, Section verneed, Section strings, string versionName)
    {
        var result = VersionNeedPatchResult.NotReferenced;
        var need = verneed.Offset;
        for (uint n = 0; n < verneed.Info; n++)
        {
            Require(need + 16 <= verneed.Offset + verneed.Size, "a Verneed entry lies outside .gnu.version_r.");
            Require(ReadU16(elf, (int)need) == 1, $"Verneed version {ReadU16(elf, (int)need)} is not 1.");
            var auxCount = ReadU16(elf, (int)need + 2);
            var aux = need + ReadU32(elf, (int)need + 8);
            for (var a = 0; a < auxCount; a++)
            {
                Require(aux + 16 <= verneed.Offset + verneed.Size, "a Vernaux entry lies outside .gnu.version_r.");
                if (ReadString(elf, strings, ReadU32(elf, (int)aux + 8)) == versionName)
                {
                    var flagsAt = (int)aux + 4;
                    var flags = ReadU16(elf, flagsAt);
                    if ((flags & VerFlagWeak) != 0)
                    {
                        result = result == VersionNeedPatchResult.Patched ? result : VersionNeedPatchResult.AlreadyWeak;
                    }
                    else
                    {
                        WriteU16(elf, flagsAt, (ushort)(flags | VerFlagWeak));
                        result = VersionNeedPatchResult.Patched;
                    }
                }

                aux += ReadU32(elf, (int)aux + 12);
            }

            var next = ReadU32(elf, (int)need + 12);
            if (next == 0)
            {
                break;
            }

            need += next;
        }

        return result;
    }

    private static string ReadString(byte[] elf, Section table, ulong offset)
    {
        Require(offset < table.Size, $"string offset {offset} lies outside its string table.");
        var start = (int)(table.Offset + offset);
        var end = Array.IndexOf(elf, (byte)0, start, (int)(table.Offset + table.Size) - start);
        Require(end >= 0, "unterminated string in a string table.");
        return Encoding.ASCII.GetString(elf, start, end - start);
    }

    private static bool Contains(byte[] haystack, byte[] needle)
    {
        for (var i = Array.IndexOf(haystack, needle[0]); i >= 0 && i <= haystack.Length - needle.Length; i = Array.IndexOf(haystack, needle[0], i + 1))
        {
            var j = 1;
            while (j < needle.Length && haystack[i + j] == needle[j])
            {
                j++;
            }

            if (j == needle.Length)
            {
                return true;
            }
        }

        return false;
    }

    private static void Require(bool condition, string message)
    {
        if (!condition)
        {
            throw new InvalidDataException("Unexpected ELF layout: " + message);
        }
    }

    private static ushort ReadU16(byte[] b, int at) => BitConverter.ToUInt16(b, at);

    private static uint ReadU32(byte[] b, int at) => BitConverter.ToUInt32(b, at);

    private static ulong ReadU64(byte[] b, int at) => BitConverter.ToUInt64(b, at);

    private static void WriteU16(byte[] b, int at, ushort value)
    {
        b[at] = (byte)value;
        b[at + 1] = (byte)(value >> 8);
    }

    private readonly struct Section
    {
        private Section(byte[] elf, int at)
        {
            Name = ReadU32(elf, at);
            Type = ReadU32(elf, at + 4);
            Offset = ReadU64(elf, at + 24);
            Size = ReadU64(elf, at + 32);
            Link = ReadU32(elf, at + 40);
            Info = ReadU32(elf, at + 44);
        }

        public uint Name { get; }

        public uint Type { get; }

        public ulong Offset { get; }

        public ulong Size { get; }

        public uint Link { get; }

        public uint Info { get; }

        public static Section Read(byte[] elf, int at)
        {
            var section = new Section(elf, at);
            Require(section.Offset + section.Size <= (ulong)elf.Length || section.Type == 8 /* SHT_NOBITS */,
                "a section lies past the end of the file.");
            return section;
        }
    }
}
