using System.Reflection;
using System.Reflection.Emit;
using TorchSharp;
using Xunit.Abstractions;

namespace DeFeat.Testing;

/// <summary>
/// Reads compiled IL to find where code hands TorchSharp a <see cref="Scalar"/> that nothing keeps alive across the
/// native call, the race of TorchSharp #1434 / #1496 (the Scalar's finaliser can free it while the call reads it).
/// It does not depend on luck: it looks at every method of an assembly, compiler-generated lambdas included.
/// </summary>
/// <remarks>
/// <para>A method is reported when it</para>
/// <list type="bullet">
/// <item>produces a <see cref="Scalar"/> (a call or <c>newobj</c> returning one: <c>Scalar.op_Implicit</c>, i.e. a
/// plain number where a Scalar is expected, <c>ToScalar()</c>, ...) and does not keep it: the value must go straight
/// into a local that a <c>finally</c> disposes (<c>using var s = x.ToScalar();</c>), into a static field from a
/// static constructor (a constant created once, never finalised), or be returned to the caller, who keeps it; or
/// </item>
/// <item>calls a TorchSharp method that does such a thing itself, directly or through other TorchSharp methods:
/// <c>a + b</c> (<c>add(b)</c> passes a temporary <c>alpha = 1</c>), <c>x * 2.0</c>, <c>square()</c>
/// (<c>pow(2)</c>), <c>arange(n)</c> (<c>arange(0, n, 1)</c>), ... TorchSharp's own IL is read the same way, except
/// that a Scalar stored into an instance field also counts as kept there.</item>
/// </list>
/// <para>
/// It reports a Scalar kept alive in some other sound way (<c>GC.KeepAlive</c>, a field): write it as above instead.
/// It does not follow calls through delegates or interface and virtual dispatch to other implementations. Tensor
/// temporaries are not its subject (the dispose scopes keep them alive).
/// </para>
/// </remarks>
internal static class ScalarLifetimeScan
{
    private const BindingFlags Declared =
        BindingFlags.DeclaredOnly | BindingFlags.Instance | BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic;

    private static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(field => (OpCode)field.GetValue(null)!)
        .ToDictionary(code => code.Value);

    private static readonly Assembly TorchSharpAssembly = typeof(Scalar).Assembly;

    /// <summary>Why each TorchSharp method passes a temporary Scalar (null: it does not), once computed.</summary>
    private static readonly Dictionary<MethodBase, string?> HiddenScalars = [];

    /// <summary>
    /// Asserts that no method of <paramref name="library"/> passes a Scalar it does not keep alive, writing each
    /// finding to the test output; <paramref name="constants"/> names the package's class of static constants.
    /// </summary>
    public static void ShouldFindNoneIn(Assembly library, string constants, ITestOutputHelper output)
    {
        var findings = Find(library.GetTypes());
        foreach (var finding in findings)
        {
            output.WriteLine(finding);
        }

        findings.Should().BeEmpty($"a Scalar nothing keeps alive can be finalised during the native call that reads it "
            + $"(TorchSharp #1434, #1496): use {constants} or `using var s = value.ToScalar();`, and a.add(b, {constants}.One) "
            + "instead of a + b");
    }

    /// <summary>One line per offending site in the methods of <paramref name="types"/>, e.g. <c>Loss.forward: calls ...</c>.</summary>
    public static IReadOnlyList<string> Find(IEnumerable<Type> types)
    {
        var findings = new List<string>();
        foreach (var method in types.SelectMany(MethodsOf))
        {
            var il = MethodIl.Read(method);
            if (il is null)
            {
                continue;
            }

            var where = $"{method.DeclaringType!.FullName}.{method.Name}";
            for (var index = 0; index < il.Instructions.Count; index++)
            {
                if (Problem(il, index, inTorchSharp: false) is { } problem)
                {
                    findings.Add($"{where}: IL_{il.Instructions[index].Offset:X4} {problem}");
                }
            }
        }

        return findings;
    }

    private static IEnumerable<MethodBase> MethodsOf(Type type)
        => type.GetMethods(Declared).Cast<MethodBase>()
            .Concat(type.GetConstructors(Declared))
            .Concat(type.TypeInitializer is { } initializer ? [initializer] : [])
            .Distinct();

    /// <summary>Null, or why <paramref name="method"/> (a TorchSharp method) passes a temporary Scalar to native code.</summary>
    private static string? HiddenScalarIn(MethodBase method)
    {
        lock (HiddenScalars)
        {
            if (HiddenScalars.TryGetValue(method, out var known))
            {
                return known;
            }

            // A method on a call cycle counts as clean while it is being computed (a cycle's other members may then be
            // remembered as clean too; TorchSharp's tensor methods do not recurse).
            HiddenScalars[method] = null;
        }

        string? why = null;
        if (MethodIl.Read(method) is { } il)
        {
            for (var index = 0; index < il.Instructions.Count && why is null; index++)
            {
                why = Problem(il, index, inTorchSharp: true);
            }
        }

        lock (HiddenScalars)
        {
            HiddenScalars[method] = why;
        }

        return why;
    }

    /// <summary>
    /// Null, or what is wrong with instruction <paramref name="index"/>: it produces a Scalar that is not kept, or it
    /// calls a TorchSharp method that passes a temporary one.
    /// </summary>
    private static string? Problem(MethodIl il, int index, bool inTorchSharp)
    {
        if (il.Callee(index) is not { } callee)
        {
            return null;
        }

        if (il.ProducesScalar(index) && !il.Keeps(index, allowInstanceField: inTorchSharp))
        {
            return $"does not keep the Scalar from {Describe(callee)} alive";
        }

        return callee.Module.Assembly == TorchSharpAssembly && HiddenScalarIn(callee) is { } inner
            ? $"calls {Describe(callee)}, which {inner}"
            : null;
    }

    private static string Describe(MethodBase method)
        => $"{method.DeclaringType?.Name}.{method.Name}({string.Join(", ", method.GetParameters().Select(parameter => parameter.ParameterType.Name))})";

    /// <summary>An instruction: where it starts, its opcode and its inline operand (a token, a variable index, or 0).</summary>
    private readonly record struct Instruction(int Offset, OpCode Code, int Operand);

    /// <summary>One method's instructions and the local variables its <c>finally</c> blocks dispose.</summary>
    private sealed class MethodIl
    {
        private readonly MethodBase method;
        private readonly HashSet<int> disposedLocals = [];

        private MethodIl(MethodBase method, List<Instruction> instructions, IList<ExceptionHandlingClause> clauses)
        {
            this.method = method;
            Instructions = instructions;
            foreach (var clause in clauses.Where(clause => clause.Flags == ExceptionHandlingClauseOptions.Finally))
            {
                var handler = instructions
                    .Where(instruction => instruction.Offset >= clause.HandlerOffset && instruction.Offset < clause.HandlerOffset + clause.HandlerLength)
                    .Where(instruction => instruction.Code != OpCodes.Nop)
                    .ToList();
                for (var i = 0; i + 1 < handler.Count; i++)
                {
                    if (LoadedLocal(handler[i]) is { } local && Callee(handler[i + 1]) is { Name: "Dispose" })
                    {
                        disposedLocals.Add(local);
                    }
                }
            }
        }

        public List<Instruction> Instructions { get; }

        public static MethodIl? Read(MethodBase method)
        {
            var body = method.GetMethodBody();
            var bytes = body?.GetILAsByteArray();
            if (body is null || bytes is null)
            {
                return null;
            }

            var instructions = new List<Instruction>();
            for (var offset = 0; offset < bytes.Length;)
            {
                var start = offset;
                var value = bytes[offset] == 0xFE ? (short)(0xFE00 | bytes[offset + 1]) : bytes[offset];
                var code = OpCodesByValue[value];
                offset += code.Size;
                var operand = code.OperandType switch
                {
                    OperandType.InlineNone => 0,
                    OperandType.ShortInlineVar or OperandType.ShortInlineI or OperandType.ShortInlineBrTarget => bytes[offset],
                    OperandType.InlineVar => BitConverter.ToUInt16(bytes, offset),
                    OperandType.InlineI8 or OperandType.InlineR => 0,
                    _ => BitConverter.ToInt32(bytes, offset),
                };
                offset += code.OperandType switch
                {
                    OperandType.InlineNone => 0,
                    OperandType.ShortInlineVar or OperandType.ShortInlineI or OperandType.ShortInlineBrTarget => 1,
                    OperandType.InlineVar => 2,
                    OperandType.InlineI8 or OperandType.InlineR => 8,
                    OperandType.InlineSwitch => 4 + (4 * operand),
                    _ => 4,
                };
                instructions.Add(new Instruction(start, code, operand));
            }

            return new MethodIl(method, instructions, body.ExceptionHandlingClauses);
        }

        /// <summary>The method a call, callvirt, newobj, ldftn or ldvirtftn names; null for other instructions.</summary>
        public MethodBase? Callee(int index) => Callee(Instructions[index]);

        /// <summary>Whether instruction <paramref name="index"/> is a call or <c>newobj</c> that leaves a new Scalar on the stack.</summary>
        public bool ProducesScalar(int index)
        {
            var code = Instructions[index].Code;
            return (code == OpCodes.Call || code == OpCodes.Callvirt || code == OpCodes.Newobj)
                && Callee(index) is var callee
                && (callee is MethodInfo info ? info.ReturnType == typeof(Scalar) : callee?.DeclaringType == typeof(Scalar));
        }

        private MethodBase? Callee(Instruction instruction)
        {
            if (instruction.Code.OperandType != OperandType.InlineMethod)
            {
                return null;
            }

            var declaring = method.DeclaringType;
            var typeArguments = declaring is { IsGenericType: true } ? declaring.GetGenericArguments() : null;
            var methodArguments = method.IsGenericMethod ? method.GetGenericArguments() : null;
            try
            {
                return method.Module.ResolveMethod(instruction.Operand, typeArguments, methodArguments);
            }
            catch (ArgumentException)
            {
                return null;
            }
        }

        /// <summary>
        /// Whether the Scalar that instruction <paramref name="producer"/> leaves on the stack is kept: stored into a local that a
        /// <c>finally</c> disposes, into a static field by a static constructor (or any field, when
        /// <paramref name="allowInstanceField"/>), or returned.
        /// </summary>
        public bool Keeps(int producer, bool allowInstanceField)
        {
            var next = Instructions.Skip(producer + 1).FirstOrDefault(instruction => instruction.Code != OpCodes.Nop);
            if (next.Code == OpCodes.Ret)
            {
                return true;
            }

            if (next.Code == OpCodes.Stsfld)
            {
                return allowInstanceField || method is ConstructorInfo { IsStatic: true };
            }

            if (next.Code == OpCodes.Stfld)
            {
                return allowInstanceField;
            }

            return StoredLocal(next) is { } local && disposedLocals.Contains(local);
        }

        private static int? LoadedLocal(Instruction instruction)
            => LocalIndex(instruction, OpCodes.Ldloc_0, OpCodes.Ldloc_1, OpCodes.Ldloc_2, OpCodes.Ldloc_3, OpCodes.Ldloc_S, OpCodes.Ldloc);

        private static int? StoredLocal(Instruction instruction)
            => LocalIndex(instruction, OpCodes.Stloc_0, OpCodes.Stloc_1, OpCodes.Stloc_2, OpCodes.Stloc_3, OpCodes.Stloc_S, OpCodes.Stloc);

        private static int? LocalIndex(Instruction instruction, OpCode zero, OpCode one, OpCode two, OpCode three, OpCode shortForm, OpCode longForm)
        {
            var code = instruction.Code;
            return code == zero ? 0
                : code == one ? 1
                : code == two ? 2
                : code == three ? 3
                : code == shortForm || code == longForm ? instruction.Operand
                : null;
        }
    }
}
