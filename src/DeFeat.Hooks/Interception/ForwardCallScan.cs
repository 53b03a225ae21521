using DeFeat.Hooks.Diagnostics;
using System.Reflection;
using System.Reflection.Emit;
using System.Runtime.CompilerServices;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Interception;

/// <summary>
/// Reads a parent module's IL to find where it invokes a child with <c>forward(...)</c> instead of <c>call(...)</c>:
/// TorchSharp runs forward hooks only from <c>call</c>, so a hook on a child that the parent calls with
/// <c>forward</c> silently records nothing. The scan is conservative: a call site is reported only when its receiver
/// is proven to be the child's field read from <c>this</c> (or an element of the collection in that field); anything
/// the scan cannot follow (a value merged from two branches, a <c>dup</c>, an unknown opcode, an unresolvable token)
/// leaves the site unreported rather than guessed.
/// </summary>
internal static class ForwardCallScan
{
    private const BindingFlags DeclaredInstance =
        BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly;

    /// <summary>How many casts and single-assignment locals a receiver is followed back through.</summary>
    private const int MaxLookThrough = 8;

    private static readonly OpCode[] LdlocFixed = [OpCodes.Ldloc_0, OpCodes.Ldloc_1, OpCodes.Ldloc_2, OpCodes.Ldloc_3];
    private static readonly OpCode[] StlocFixed = [OpCodes.Stloc_0, OpCodes.Stloc_1, OpCodes.Stloc_2, OpCodes.Stloc_3];
    private static readonly (OpCode?[] OneByte, OpCode?[] TwoByte) Table = BuildTable();

    /// <summary>
    /// Sites in the IL of <paramref name="ownerType"/>'s instance methods and constructors (those declared by it and
    /// by its base types outside TorchSharp and the core library, compiler-generated local functions and lambdas
    /// that are instance methods of those types included, and also the methods of the compiler-generated closure and
    /// state-machine classes nested in those types, whose <c>this</c> is their <c>&lt;&gt;4__this</c> field) where a
    /// method named <c>forward</c> is invoked
    /// (<c>call</c> or <c>callvirt</c>) with a receiver that is (a) the value of <paramref name="holder"/> read from
    /// <c>this</c>, or (b) when <paramref name="elementAccess"/> is true, the result of an indexer getter
    /// <c>get_Item</c> called on that value; and whose declaring type is assignable from <paramref name="childType"/>.
    /// The receiver is followed back through <c>castclass</c>/<c>isinst</c> and through locals stored exactly once
    /// and never taken by address.
    /// </summary>
    /// <param name="ownerType">The parent module's runtime type.</param>
    /// <param name="holder">The parent's field that holds the child (or the collection holding it).</param>
    /// <param name="childType">The child's runtime type, e.g. <c>Conv2d</c>.</param>
    /// <param name="elementAccess">Whether the child is an element of the collection in <paramref name="holder"/>.</param>
    /// <returns>
    /// One description per method containing such a site, e.g. <c>FPN.forward</c>, <c>FPN.forward (local function
    /// Lateral)</c> or <c>FPN.forward (lambda)</c>, distinct, in the order found (the owner type first, then its bases).
    /// </returns>
    internal static IReadOnlyList<string> FindForwardCalls(Type ownerType, FieldInfo holder, Type childType, bool elementAccess)
    {
        ArgumentNullException.ThrowIfNull(ownerType);
        ArgumentNullException.ThrowIfNull(holder);
        ArgumentNullException.ThrowIfNull(childType);
        var skippedAssemblies = new[] { typeof(nn.Module).Assembly, typeof(object).Assembly };
        var sites = new List<string>();
        for (var type = ownerType; type is not null; type = type.BaseType)
        {
            if (skippedAssemblies.Contains(type.Assembly))
            {
                continue;
            }

            Collect(sites, type, type, thisField: null, holder, childType, elementAccess);
            foreach (var (generated, thisField) in CapturingTypes(type))
            {
                Collect(sites, type, generated, thisField, holder, childType, elementAccess);
            }
        }

        return sites;
    }

    /// <summary>
    /// Whether the IL of <paramref name="ownerType"/> (the same methods as <see cref="FindForwardCalls"/> reads) invokes
    /// an instance method named <c>call</c> whose declaring type is assignable from <paramref name="childType"/>, on any
    /// receiver. Deliberately generous: any such invocation may reach the child (through a value the scan cannot follow),
    /// so a hook on the child may record; only when there is none is a parent that invokes the child with
    /// <c>forward(...)</c> known never to run its hooks.
    /// </summary>
    /// <param name="ownerType">The parent module's runtime type.</param>
    /// <param name="childType">The child's runtime type.</param>
    /// <returns>True when some such <c>call</c> is invoked (or a method's IL cannot be decoded).</returns>
    internal static bool MayInvokeCall(Type ownerType, Type childType)
    {
        ArgumentNullException.ThrowIfNull(ownerType);
        ArgumentNullException.ThrowIfNull(childType);
        var skippedAssemblies = new[] { typeof(nn.Module).Assembly, typeof(object).Assembly };
        for (var type = ownerType; type is not null; type = type.BaseType)
        {
            if (skippedAssemblies.Contains(type.Assembly))
            {
                continue;
            }

            var declaringTypes = new[] { type }.Concat(CapturingTypes(type).Select(generated => generated.Generated));
            foreach (var declaring in declaringTypes)
            {
                var methods = declaring.GetMethods(DeclaredInstance).Cast<MethodBase>().Concat(declaring.GetConstructors(DeclaredInstance));
                foreach (var method in methods)
                {
                    if (method.IsAbstract || (method.MethodImplementationFlags & MethodImplAttributes.CodeTypeMask) != MethodImplAttributes.IL
                        || (method.Attributes & MethodAttributes.PinvokeImpl) != 0)
                    {
                        continue; // no IL to read
                    }

                    if (MethodIl.Read(method) is not { } il || il.InvokesCall(childType))
                    {
                        return true;
                    }
                }
            }
        }

        return false;
    }

    /// <summary>Adds the description of each instance method of <paramref name="declaring"/> that has a site.</summary>
    private static void Collect(
        List<string> sites, Type owner, Type declaring, FieldInfo? thisField, FieldInfo holder, Type childType, bool elementAccess)
    {
        var methods = declaring.GetMethods(DeclaredInstance).Cast<MethodBase>().Concat(declaring.GetConstructors(DeclaredInstance));
        foreach (var method in methods)
        {
            if (MethodIl.Read(method) is { } il && il.CallsForwardOn(holder, childType, elementAccess, thisField))
            {
                var site = Describe(owner, method);
                if (!sites.Contains(site))
                {
                    sites.Add(site);
                }
            }
        }
    }

    /// <summary>
    /// The compiler-generated classes nested in <paramref name="type"/> that hold its <c>this</c> in a field
    /// <c>&lt;&gt;4__this</c> (closures of lambdas and local functions, iterator and async state machines), made with
    /// <paramref name="type"/>'s type arguments where they share its arity, each with that field.
    /// </summary>
    private static IEnumerable<(Type Generated, FieldInfo ThisField)> CapturingTypes(Type type)
    {
        var arguments = type.IsConstructedGenericType ? type.GetGenericArguments() : [];
        foreach (var nested in type.GetNestedTypes(BindingFlags.NonPublic | BindingFlags.Public))
        {
            if (!nested.IsClass || !nested.Name.StartsWith('<') || !nested.IsDefined(typeof(CompilerGeneratedAttribute), false))
            {
                continue;
            }

            var generated = nested.IsGenericTypeDefinition && arguments.Length > 0
                && nested.GetGenericArguments().Length == arguments.Length
                    ? nested.MakeGenericType(arguments)
                    : nested;
            if (generated.GetField("<>4__this", DeclaredInstance) is { } thisField)
            {
                yield return (generated, thisField);
            }
        }
    }

    /// <summary>The one- and two-byte (0xFE-prefixed) opcodes, indexed by their last byte.</summary>
    private static (OpCode?[] OneByte, OpCode?[] TwoByte) BuildTable()
    {
        var oneByte = new OpCode?[256];
        var twoByte = new OpCode?[256];
        foreach (var field in typeof(OpCodes).GetFields(BindingFlags.Public | BindingFlags.Static))
        {
            if (field.GetValue(null) is not OpCode code)
            {
                continue;
            }

            var value = (ushort)code.Value;
            if (code.Size == 1 && value < 0xF8)
            {
                // 0xF8..0xFF are the reserved prefix bytes (0xFE introduces a two-byte opcode), not instructions.
                oneByte[value] = code;
            }
            else if (code.Size == 2 && value >> 8 == 0xFE)
            {
                twoByte[value & 0xFF] = code;
            }
        }

        return (oneByte, twoByte);
    }

    /// <summary>
    /// <c>Owner.method</c>, with Roslyn's names for local functions (<c>&lt;forward&gt;g__Name|0_0</c>), lambdas
    /// (<c>&lt;forward&gt;b__0_0</c>) and state machines (<c>&lt;Levels&gt;d__3.MoveNext</c>) turned back into the
    /// method they were written in.
    /// </summary>
    private static string Describe(Type owner, MethodBase method)
    {
        var ownerName = TypeNames.Of(owner);
        if (method.IsConstructor)
        {
            return $"{ownerName} constructor";
        }

        if (SplitGeneratedName(method.Name) is var (outer, rest))
        {
            if (!rest.StartsWith("g__", StringComparison.Ordinal))
            {
                return $"{ownerName}.{outer} (lambda)";
            }

            var local = rest[3..];
            var bar = local.IndexOf('|', StringComparison.Ordinal);
            return $"{ownerName}.{outer} (local function {(bar >= 0 ? local[..bar] : local)})";
        }

        return method.DeclaringType != owner && SplitGeneratedName(method.DeclaringType!.Name) is var (machine, _)
            ? $"{ownerName}.{machine} (iterator or async)"
            : $"{ownerName}.{method.Name}";
    }

    /// <summary>Splits a Roslyn-generated name <c>&lt;outer&gt;rest</c>; null for a name written in C#.</summary>
    private static (string Outer, string Tail)? SplitGeneratedName(string name)
    {
        var close = name.IndexOf('>', StringComparison.Ordinal);
        return name.StartsWith('<') && close >= 2 ? (name[1..close], name[(close + 1)..]) : null;
    }

    /// <summary>A local's (or argument's) index when <paramref name="instruction"/> is one of the given forms of a local instruction; else -1.</summary>
    private static int LocalOf(Instruction instruction, OpCode[] fixedForms, OpCode shortForm, OpCode longForm)
    {
        var index = Array.IndexOf(fixedForms, instruction.Code);
        if (index >= 0)
        {
            return index;
        }

        return instruction.Code == shortForm || instruction.Code == longForm ? instruction.Operand : -1;
    }

    /// <summary>How many stack slots a fixed <see cref="StackBehaviour"/> pops or pushes (its <c>_</c>-separated parts).</summary>
    private static int SlotCount(StackBehaviour behaviour)
        => behaviour is StackBehaviour.Pop0 or StackBehaviour.Push0 ? 0 : behaviour.ToString().Split('_').Length;

    /// <summary>One decoded instruction: its opcode and its token, local/argument index or integer operand.</summary>
    /// <param name="Code">The opcode.</param>
    /// <param name="Operand">The token, variable index or inline integer; 0 when the opcode has none of these.</param>
    private readonly record struct Instruction(OpCode Code, int Operand);

    /// <summary>
    /// One method's decoded IL, with the instructions that control can reach other than by falling through (branch
    /// targets, exception handler entries), the locals that are stored exactly once, and whether <c>ldarg.0</c> is
    /// always <c>this</c>.
    /// </summary>
    private sealed class MethodIl
    {
        private readonly MethodBase method;
        private readonly Type[]? typeArguments;
        private readonly Type[]? methodArguments;
        private readonly List<Instruction> instructions;
        private readonly HashSet<int> joins;
        private readonly Dictionary<int, int> singleStores = [];
        private readonly bool thisIsStable = true;

        private MethodIl(MethodBase method, List<Instruction> instructions, HashSet<int> joins)
        {
            this.method = method;
            this.instructions = instructions;
            this.joins = joins;
            var declaring = method.DeclaringType;
            typeArguments = declaring is { IsGenericType: true } ? declaring.GetGenericArguments() : null;
            methodArguments = method.IsGenericMethod ? method.GetGenericArguments() : null;

            var stores = new Dictionary<int, List<int>>();
            var addressTaken = new HashSet<int>();
            for (var i = 0; i < instructions.Count; i++)
            {
                var instruction = instructions[i];
                var stored = LocalOf(instruction, StlocFixed, OpCodes.Stloc_S, OpCodes.Stloc);
                if (stored >= 0)
                {
                    if (!stores.TryGetValue(stored, out var at))
                    {
                        stores[stored] = at = [];
                    }

                    at.Add(i);
                }

                var addressed = LocalOf(instruction, [], OpCodes.Ldloca_S, OpCodes.Ldloca);
                if (addressed >= 0)
                {
                    addressTaken.Add(addressed);
                }

                var written = LocalOf(instruction, [], OpCodes.Starg_S, OpCodes.Starg);
                var argumentAddress = LocalOf(instruction, [], OpCodes.Ldarga_S, OpCodes.Ldarga);
                if (written == 0 || argumentAddress == 0)
                {
                    thisIsStable = false;
                }
            }

            foreach (var (local, at) in stores)
            {
                if (at.Count == 1 && !addressTaken.Contains(local))
                {
                    singleStores[local] = at[0];
                }
            }
        }

        /// <summary>Decodes <paramref name="method"/>'s IL, or returns null when it has none or it cannot be decoded.</summary>
        public static MethodIl? Read(MethodBase method)
        {
            MethodBody? body;
            try
            {
                body = method.GetMethodBody();
            }
            catch (Exception error) when (error is InvalidOperationException or NotSupportedException or ArgumentException)
            {
                return null;
            }

            var il = body?.GetILAsByteArray();
            if (body is null || il is null)
            {
                return null;
            }

            var instructions = new List<Instruction>();
            var offsets = new Dictionary<int, int>();
            var targetOffsets = new List<int>();
            var position = 0;
            while (position < il.Length)
            {
                offsets[position] = instructions.Count;
                var first = il[position++];
                OpCode? decoded = first == 0xFE
                    ? position < il.Length ? Table.TwoByte[il[position++]] : null
                    : Table.OneByte[first];
                if (decoded is not { } code || !TryReadOperand(il, ref position, code, targetOffsets, out var operand))
                {
                    return null;
                }

                instructions.Add(new Instruction(code, operand));
            }

            foreach (var clause in body.ExceptionHandlingClauses)
            {
                targetOffsets.Add(clause.TryOffset);
                targetOffsets.Add(clause.HandlerOffset);
                if (clause.Flags.HasFlag(ExceptionHandlingClauseOptions.Filter))
                {
                    targetOffsets.Add(clause.FilterOffset);
                }
            }

            var joins = new HashSet<int>();
            foreach (var offset in targetOffsets)
            {
                if (!offsets.TryGetValue(offset, out var index))
                {
                    return null; // a target inside an instruction: not IL this scan understands
                }

                joins.Add(index);
            }

            return new MethodIl(method, instructions, joins);
        }

        /// <summary>
        /// Whether some <c>forward</c> call in this method has the child in <paramref name="holder"/> as receiver.
        /// <paramref name="thisField"/> is null in the owner's own methods (its <c>this</c> is <c>ldarg.0</c>), and the
        /// <c>&lt;&gt;4__this</c> field in a closure or state machine (its <c>this</c> is <c>ldarg.0; ldfld</c> that field).
        /// </summary>
        public bool CallsForwardOn(FieldInfo holder, Type childType, bool elementAccess, FieldInfo? thisField)
        {
            for (var i = 0; i < instructions.Count; i++)
            {
                if (!IsCall(instructions[i])
                    || ResolveMethod(instructions[i].Operand) is not { IsStatic: false, Name: "forward", DeclaringType: { } declaring }
                    || !declaring.IsAssignableFrom(childType)
                    || !TryStackEffect(instructions[i], out var pops, out _))
                {
                    continue;
                }

                var receiver = Origin(FindProducer(i, pops - 1));
                if (IsHolderValue(receiver, holder, thisField) || (elementAccess && IsHolderElement(receiver, holder, thisField)))
                {
                    return true;
                }
            }

            return false;
        }

        /// <summary>Whether this method invokes an instance <c>call</c> declared by a type assignable from <paramref name="childType"/>.</summary>
        public bool InvokesCall(Type childType)
            => instructions.Any(instruction => IsCall(instruction)
                && ResolveMethod(instruction.Operand) is { IsStatic: false, Name: "call", DeclaringType: { } declaring }
                && declaring.IsAssignableFrom(childType));

        /// <summary>Reads the operand of <paramref name="code"/> at <paramref name="position"/> and moves past it.</summary>
        private static bool TryReadOperand(byte[] il, ref int position, OpCode code, List<int> targets, out int operand)
        {
            operand = 0;
            var size = code.OperandType switch
            {
                OperandType.InlineNone => 0,
                OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
                OperandType.InlineVar => 2,
                OperandType.InlineBrTarget or OperandType.InlineField or OperandType.InlineI or OperandType.InlineMethod
                    or OperandType.InlineSig or OperandType.InlineString or OperandType.InlineTok or OperandType.InlineType
                    or OperandType.ShortInlineR or OperandType.InlineSwitch => 4,
                OperandType.InlineI8 or OperandType.InlineR => 8,
                _ => -1,
            };
            if (size < 0 || position + size > il.Length)
            {
                return false;
            }

            var start = position;
            position += size;
            switch (code.OperandType)
            {
                case OperandType.ShortInlineBrTarget:
                    targets.Add(position + (sbyte)il[start]);
                    break;
                case OperandType.ShortInlineI:
                    operand = (sbyte)il[start];
                    break;
                case OperandType.ShortInlineVar:
                    operand = il[start];
                    break;
                case OperandType.InlineVar:
                    operand = BitConverter.ToUInt16(il, start);
                    break;
                case OperandType.InlineBrTarget:
                    targets.Add(position + BitConverter.ToInt32(il, start));
                    break;
                case OperandType.InlineSwitch:
                    var count = BitConverter.ToInt32(il, start);
                    if (count < 0 || (long)position + (4L * count) > il.Length)
                    {
                        return false;
                    }

                    var end = position + (4 * count);
                    for (var k = 0; k < count; k++)
                    {
                        targets.Add(end + BitConverter.ToInt32(il, position + (4 * k)));
                    }

                    position = end;
                    break;
                case not OperandType.InlineNone and not OperandType.InlineI8 and not OperandType.InlineR:
                    operand = BitConverter.ToInt32(il, start);
                    break;
            }

            return true;
        }

        private static bool IsCall(Instruction instruction)
            => instruction.Code == OpCodes.Call || instruction.Code == OpCodes.Callvirt;

        /// <summary>
        /// The index of the instruction that pushed the value <paramref name="depth"/> slots below the top of the stack
        /// just before instruction <paramref name="consumer"/>, found by walking back over straight-line code; -1 when
        /// the walk reaches a join (a branch target or handler entry after the producer, up to the consumer), an
        /// instruction that does not fall through, an instruction whose stack effect is unknown, a <c>dup</c>, or
        /// the method's start.
        /// </summary>
        private int FindProducer(int consumer, int depth)
        {
            if (consumer < 0)
            {
                return -1;
            }

            for (var j = consumer - 1; j >= 0; j--)
            {
                var instruction = instructions[j];
                if (joins.Contains(j + 1)
                    || instruction.Code.FlowControl is FlowControl.Branch or FlowControl.Return or FlowControl.Throw
                    || !TryStackEffect(instruction, out var pops, out var pushes))
                {
                    return -1;
                }

                if (depth < pushes)
                {
                    return pushes == 1 ? j : -1;
                }

                depth += pops - pushes;
            }

            return -1;
        }

        /// <summary>
        /// Follows the value pushed by <paramref name="producer"/> back through <c>castclass</c>/<c>isinst</c> (same
        /// object or null) and through loads of a single-assignment local to the instruction that made it; -1 if lost.
        /// </summary>
        private int Origin(int producer)
        {
            for (var step = 0; producer >= 0 && step < MaxLookThrough; step++)
            {
                var instruction = instructions[producer];
                if (instruction.Code == OpCodes.Castclass || instruction.Code == OpCodes.Isinst)
                {
                    producer = FindProducer(producer, 0);
                    continue;
                }

                var local = LocalOf(instruction, LdlocFixed, OpCodes.Ldloc_S, OpCodes.Ldloc);
                if (local < 0)
                {
                    return producer;
                }

                producer = singleStores.TryGetValue(local, out var store) ? FindProducer(store, 0) : -1;
            }

            return -1;
        }

        /// <summary>Whether the value made by <paramref name="origin"/> is <c>this.holder</c>.</summary>
        private bool IsHolderValue(int origin, FieldInfo holder, FieldInfo? thisField)
            => IsFieldLoad(origin, holder) && IsThis(Origin(FindProducer(origin, 0)), thisField);

        /// <summary>Whether the value made by <paramref name="origin"/> is <c>this.holder[...]</c> (an instance <c>get_Item</c> on it).</summary>
        private bool IsHolderElement(int origin, FieldInfo holder, FieldInfo? thisField)
            => origin >= 0 && IsCall(instructions[origin])
                && ResolveMethod(instructions[origin].Operand) is { IsStatic: false, Name: "get_Item" }
                && TryStackEffect(instructions[origin], out var pops, out _)
                && IsHolderValue(Origin(FindProducer(origin, pops - 1)), holder, thisField);

        /// <summary>
        /// Whether the value made by <paramref name="origin"/> is the owner's <c>this</c>: <c>ldarg.0</c> in the owner's
        /// own methods, <c>ldarg.0; ldfld &lt;&gt;4__this</c> in a closure or state machine.
        /// </summary>
        private bool IsThis(int origin, FieldInfo? thisField)
        {
            if (thisField is not null)
            {
                return IsFieldLoad(origin, thisField) && IsThis(Origin(FindProducer(origin, 0)), thisField: null);
            }

            if (origin < 0 || !thisIsStable || method.IsStatic)
            {
                return false;
            }

            var instruction = instructions[origin];
            return instruction.Code == OpCodes.Ldarg_0
                    || ((instruction.Code == OpCodes.Ldarg_S || instruction.Code == OpCodes.Ldarg) && instruction.Operand == 0);
        }

        /// <summary>Whether instruction <paramref name="origin"/> is <c>ldfld</c> of <paramref name="field"/> (any instantiation).</summary>
        private bool IsFieldLoad(int origin, FieldInfo field)
            => origin >= 0 && instructions[origin].Code == OpCodes.Ldfld
                && ResolveField(instructions[origin].Operand) is { } loaded
                && loaded.Module == field.Module && loaded.MetadataToken == field.MetadataToken;

        /// <summary>
        /// How many slots <paramref name="instruction"/> pops and pushes; for <c>call</c>, <c>callvirt</c> and
        /// <c>newobj</c> read from the resolved method's signature. False when that cannot be known (<c>calli</c>,
        /// varargs, an unresolvable token).
        /// </summary>
        private bool TryStackEffect(Instruction instruction, out int pops, out int pushes)
        {
            var code = instruction.Code;
            if (code.StackBehaviourPop != StackBehaviour.Varpop && code.StackBehaviourPush != StackBehaviour.Varpush)
            {
                pops = SlotCount(code.StackBehaviourPop);
                pushes = SlotCount(code.StackBehaviourPush);
                return true;
            }

            pops = pushes = 0;
            var isNew = code == OpCodes.Newobj;
            if ((!isNew && !IsCall(instruction))
                || ResolveMethod(instruction.Operand) is not { } callee
                || callee.CallingConvention.HasFlag(CallingConventions.VarArgs))
            {
                return false;
            }

            var parameters = callee.GetParameters().Length;
            pops = parameters + (isNew || callee.IsStatic ? 0 : 1);
            pushes = isNew || (callee is MethodInfo info && info.ReturnType != typeof(void)) ? 1 : 0;
            return true;
        }

        private MethodBase? ResolveMethod(int token)
        {
            try
            {
                return method.Module.ResolveMethod(token, typeArguments, methodArguments);
            }
            catch (Exception error) when (IsResolutionFailure(error))
            {
                return null;
            }
        }

        private FieldInfo? ResolveField(int token)
        {
            try
            {
                return method.Module.ResolveField(token, typeArguments, methodArguments);
            }
            catch (Exception error) when (IsResolutionFailure(error))
            {
                return null;
            }
        }

        private static bool IsResolutionFailure(Exception error)
            => error is ArgumentException or TypeLoadException or MemberAccessException or IOException
                or BadImageFormatException or NotSupportedException or InvalidOperationException;
    }
}
