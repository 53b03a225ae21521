using System.Text;

namespace DeFeat.Build.Tests;

/// <summary>
/// Tests of the libLibTorchSharp compatibility patch on small ELF images written here byte by byte
/// (ELF64, little-endian: header, .shstrtab, .dynstr and .gnu.version_r with two Verneed entries).
/// </summary>
public class ElfVersionNeedPatcherTests
{
    private const string Missing = "GLIBCXX_3.4.32";

    [Fact]
    public void Marks_only_the_named_version_need_weak()
    {
        var elf = TinyElf.Build(out var flagOffsets, ("libc.so.6", new[] { "GLIBC_2.2.5" }), ("libstdc++.so.6", new[] { "GLIBCXX_3.4", Missing, "CXXABI_1.3" }));
        var before = (byte[])elf.Clone();

        ElfVersionNeedPatcher.Patch(elf, Missing).Should().Be(VersionNeedPatchResult.Patched);

        BitConverter.ToUInt16(elf, flagOffsets[Missing]).Should().Be(2);
        var changed = Enumerable.Range(0, elf.Length).Where(i => elf[i] != before[i]).ToArray();
        changed.Should().Equal(flagOffsets[Missing]); // exactly one byte of the 2-byte flags field changes (0 -> 2)
    }

    [Fact]
    public void Is_idempotent()
    {
        var elf = TinyElf.Build(out _, ("libstdc++.so.6", new[] { Missing }));
        ElfVersionNeedPatcher.Patch(elf, Missing).Should().Be(VersionNeedPatchResult.Patched);
        var once = (byte[])elf.Clone();

        ElfVersionNeedPatcher.Patch(elf, Missing).Should().Be(VersionNeedPatchResult.AlreadyWeak);
        elf.Should().Equal(once);
    }

    [Fact]
    public void Leaves_files_without_that_version_alone()
    {
        var elf = TinyElf.Build(out _, ("libstdc++.so.6", new[] { "GLIBCXX_3.4" }));
        var before = (byte[])elf.Clone();

        ElfVersionNeedPatcher.Patch(elf, Missing).Should().Be(VersionNeedPatchResult.NotReferenced);
        elf.Should().Equal(before);
    }

    [Theory]
    [InlineData(0, "not an ELF file")]
    [InlineData(4, "ELFCLASS64")]
    [InlineData(5, "little-endian")]
    public void Rejects_unexpected_headers_with_a_clear_message(int offset, string message)
    {
        var elf = TinyElf.Build(out _, ("libstdc++.so.6", new[] { Missing }));
        elf[offset] = 9;

        var act = () => ElfVersionNeedPatcher.Patch(elf, Missing);

        act.Should().Throw<InvalidDataException>().WithMessage($"Unexpected ELF layout: *{message}*");
    }

    [Fact]
    public void Rejects_truncated_section_headers()
    {
        var elf = TinyElf.Build(out _, ("libstdc++.so.6", new[] { Missing }));
        var truncated = elf[..^10];

        var act = () => ElfVersionNeedPatcher.Patch(truncated, Missing);

        act.Should().Throw<InvalidDataException>().WithMessage("*past the end of the file*");
    }

    [Fact]
    public void Patches_a_copy_on_disk_and_replaces_the_directory_entry()
    {
        var directory = Directory.CreateTempSubdirectory("defeat-elf-");
        try
        {
            var elf = TinyElf.Build(out var flags, ("libstdc++.so.6", new[] { Missing }));
            var path = Path.Combine(directory.FullName, "libLibTorchSharp.so");
            var original = Path.Combine(directory.FullName, "cache-copy.so");
            File.WriteAllBytes(original, elf);
            File.CreateSymbolicLink(path, original); // stands for a file shared with a package cache

            ElfVersionNeedPatcher.PatchFile(path, Missing).Should().Be(VersionNeedPatchResult.Patched);

            File.ReadAllBytes(original).Should().Equal(elf, "the cache's file is never modified");
            BitConverter.ToUInt16(File.ReadAllBytes(path), flags[Missing]).Should().Be(2);
            new FileInfo(path).LinkTarget.Should().BeNull("the patched file replaced the link");
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    /// <summary>Writes a minimal ELF64 LE image whose only interesting content is .gnu.version_r.</summary>
    private static class TinyElf
    {
        public static byte[] Build(out Dictionary<string, int> flagOffsets, params (string File, string[] Versions)[] needs)
        {
            var shstr = new StringTable();
            var dynstr = new StringTable();
            var shstrNames = (dyn: shstr.Add(".dynstr"), verneed: shstr.Add(".gnu.version_r"), shstrtab: shstr.Add(".shstrtab"));

            // .gnu.version_r content (offsets relative to the section start)
            var verneed = new List<byte>();
            var flagsInSection = new Dictionary<string, int>();
            for (var n = 0; n < needs.Length; n++)
            {
                var (file, versions) = needs[n];
                var last = n == needs.Length - 1;
                verneed.AddRange(U16(1));
                verneed.AddRange(U16((ushort)versions.Length));
                verneed.AddRange(U32(dynstr.Add(file)));
                verneed.AddRange(U32(16));                                           // vn_aux
                verneed.AddRange(U32(last ? 0u : (uint)(16 + 16 * versions.Length))); // vn_next
                for (var a = 0; a < versions.Length; a++)
                {
                    verneed.AddRange(U32(0x1234));
                    flagsInSection[versions[a]] = verneed.Count;
                    verneed.AddRange(U16(0));
                    verneed.AddRange(U16((ushort)(2 + a)));
                    verneed.AddRange(U32(dynstr.Add(versions[a])));
                    verneed.AddRange(U32(a == versions.Length - 1 ? 0u : 16u));
                }

            }

            var image = new List<byte>(new byte[64]);
            int Append(byte[] bytes)
            {
                var at = image.Count;
                image.AddRange(bytes);
                return at;
            }

            var dynstrAt = Append(dynstr.Bytes);
            var verneedAt = Append(verneed.ToArray());
            var shstrAt = Append(shstr.Bytes);
            while (image.Count % 8 != 0)
            {
                image.Add(0);
            }

            var sectionHeadersAt = image.Count;
            image.AddRange(new byte[64]); // SHT_NULL
            image.AddRange(SectionHeader(shstrNames.dyn, 3, dynstrAt, dynstr.Bytes.Length, link: 0, info: 0));
            image.AddRange(SectionHeader(shstrNames.verneed, 0x6ffffffe, verneedAt, verneed.Count, link: 1, info: (uint)needs.Length));
            image.AddRange(SectionHeader(shstrNames.shstrtab, 3, shstrAt, shstr.Bytes.Length, link: 0, info: 0));

            var bytes = image.ToArray();
            new byte[] { 0x7f, (byte)'E', (byte)'L', (byte)'F', 2, 1, 1 }.CopyTo(bytes, 0);
            BitConverter.GetBytes((ulong)sectionHeadersAt).CopyTo(bytes, 0x28);
            BitConverter.GetBytes((ushort)64).CopyTo(bytes, 0x3A);
            BitConverter.GetBytes((ushort)4).CopyTo(bytes, 0x3C);
            BitConverter.GetBytes((ushort)3).CopyTo(bytes, 0x3E);

            flagOffsets = flagsInSection.ToDictionary(kv => kv.Key, kv => verneedAt + kv.Value);
            return bytes;
        }

        private static byte[] SectionHeader(uint name, uint type, int offset, int size, uint link, uint info)
        {
            var header = new byte[64];
            BitConverter.GetBytes(name).CopyTo(header, 0);
            BitConverter.GetBytes(type).CopyTo(header, 4);
            BitConverter.GetBytes((ulong)offset).CopyTo(header, 24);
            BitConverter.GetBytes((ulong)size).CopyTo(header, 32);
            BitConverter.GetBytes(link).CopyTo(header, 40);
            BitConverter.GetBytes(info).CopyTo(header, 44);
            return header;
        }

        private static byte[] U16(ushort value) => BitConverter.GetBytes(value);

        private static byte[] U32(uint value) => BitConverter.GetBytes(value);

        private sealed class StringTable
        {
            private readonly List<byte> bytes = new() { 0 };

            public byte[] Bytes => bytes.ToArray();

            public uint Add(string value)
            {
                var at = (uint)bytes.Count;
                bytes.AddRange(Encoding.ASCII.GetBytes(value));
                bytes.Add(0);
                return at;
            }
        }
    }
}
