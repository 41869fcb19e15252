package container;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static container.Bundle.*;
import static container.Narration.*;
import static container.Seccomp.*;

// tag::seccomp-profile[]
/**
 * An OCI seccomp profile (config.json's linux.seccomp, what Docker's and Podman's default
 * profiles are written in) compiled into stage 07's kind of filter. A profile names calls;
 * the filter compares numbers, this architecture's (SyscallNumbers). Each rule becomes a
 * block: "is it this call?", then the argument tests, then the rule's answer. A call no rule
 * answers gets the default action. A name this kernel's headers do not know is skipped, as
 * runc does: the call does not exist here.
 */
final class SeccompProfile {
    /** One instruction, its jumps by label (null: the next instruction), and a label of its own. */
    record Op(int code, int k, String ifTrue, String ifFalse, String label) {
    }

    static final int JGT = 0x25, AND = 0x54;
    static final int RET_KILL_THREAD = 0, RET_TRAP = 0x00030000, RET_TRACE = 0x7ff00000, RET_LOG = 0x7ffc0000;

    final List<Op> ops = new ArrayList<>();
    private int labels;

    static int[][] compile(Map<String, Object> profile) {
        for (String field : List.of("listenerPath", "listenerMetadata"))
            if (profile.get(field) != null) throw new StageFailure("linux.seccomp." + field + ": this runtime has no seccomp notification");
        if (!strings(profile.get("flags")).isEmpty()) throw new StageFailure("linux.seccomp.flags " + strings(profile.get("flags")) + ": not supported");
        Seccomp.Arch arch = thisArch();
        Map<String, Integer> numbers = arch == X86_64 ? SyscallNumbers.X86_64 : SyscallNumbers.AARCH64;
        List<String> arches = strings(profile.get("architectures"));
        String native_ = arch == X86_64 ? "SCMP_ARCH_X86_64" : "SCMP_ARCH_AARCH64";
        int defaultErrno = (int) number(profile, "defaultErrnoRet", 1);
        int defaultAction = action((String) profile.get("defaultAction"), defaultErrno);

        SeccompProfile p = new SeccompProfile();
        // The architecture first: calls of another one (a 32-bit call on x86-64, say) have
        // other numbers. If the profile names such an architecture, its calls fail with
        // ENOSYS (this compiler has only the native numbers); if not, the process is killed.
        int foreign = arches.stream().anyMatch(a -> !a.equals(native_)) ? RET_ERRNO | ENOSYS : RET_KILL_PROCESS;
        if (!arches.isEmpty() && !arches.contains(native_)) foreign = RET_KILL_PROCESS;
        p.add(LD_W_ABS, ARCH, null, null);
        p.add(JEQ, arch.audit(), "native", null);
        p.ret(foreign);
        p.label(LD_W_ABS, NR, "native");
        if (arch.hasX32()) {
            p.add(JGE, X32_SYSCALL_BIT, null, "calls");
            p.ret(arches.contains("SCMP_ARCH_X32") ? RET_ERRNO | ENOSYS : RET_KILL_PROCESS);
            p.label(LD_W_ABS, NR, "calls");
        }
        for (Map<String, Object> rule : objects(profile.get("syscalls"))) {
            int answer = action((String) rule.get("action"), (int) number(rule, "errnoRet", defaultErrno));
            if (answer == defaultAction && objects(rule.get("args")).isEmpty()) continue; // changes nothing
            List<String> names = strings(rule.get("names"));
            if (rule.get("name") instanceof String name) names.add(name);
            for (String name : names) {
                Integer nr = numbers.get(name);
                if (nr != null) p.block(nr, objects(rule.get("args")), answer);
            }
        }
        p.ret(defaultAction);
        narrate("seccomp profile: " + p.ops.size() + " instructions, default " + profile.get("defaultAction"));
        return p.encode();
    }

    /** What a rule's action becomes in the filter's return value. */
    static int action(String name, int errno) {
        if (name == null) throw new StageFailure("linux.seccomp: an action is missing");
        return switch (name) {
            case "SCMP_ACT_ALLOW" -> RET_ALLOW;
            case "SCMP_ACT_ERRNO" -> RET_ERRNO | (errno & 0xffff);
            case "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD" -> RET_KILL_THREAD;
            case "SCMP_ACT_KILL_PROCESS" -> RET_KILL_PROCESS;
            case "SCMP_ACT_TRAP" -> RET_TRAP;
            case "SCMP_ACT_TRACE" -> RET_TRACE | (errno & 0xffff);
            case "SCMP_ACT_LOG" -> RET_LOG;
            default -> throw new StageFailure("linux.seccomp: action " + name + " is not supported");
        };
    }

    // tag::seccomp-block[]
    /**
     * One call, one rule: the number test; each argument test (all must hold); the answer.
     * seccomp_data holds each argument as 64 bits, and classic BPF compares 32 at a time, so
     * each test looks at the high half, then the low half. A failed argument test has loaded
     * an argument: the call's number is loaded again for the next block.
     */
    void block(int nr, List<Map<String, Object>> args, int answer) {
        String next = "b" + labels++, reload = "r" + labels++;
        add(JEQ, nr, null, next);
        for (Map<String, Object> arg : args) argument(arg, args.isEmpty() ? next : reload);
        ret(answer);
        if (!args.isEmpty()) label(LD_W_ABS, NR, reload);
        pending = next;
    }

    // lesson::seccomp-argument[] Compile one argument comparison of a profile's rule
    //   What: for arg's index (0 to 5), value, valueTwo and op (SCMP_CMP_EQ, NE, MASKED_EQ, GT, GE,
    //     LT, LE): load the argument's high 32 bits (ARG0_LOW + 8 * index + 4) and test them, then
    //     the low 32 bits, with add(...), jumping to `fail` when the comparison cannot hold, and
    //     to a label of your own (pending) when it already holds. MASKED_EQ ANDs with value
    //     first and compares with valueTwo. Unsigned comparisons.
    //   Read: man 2 seccomp ("Filter return values", struct seccomp_data), the runtime spec's
    //     config-linux.md ("Seccomp")
    //   Trap: GT on 64 bits is not GT on each half: the high halves decide unless they are equal.
    void argument(Map<String, Object> arg, String fail) {
        int index = (int) number(arg, "index", -1);
        if (index < 0 || index > 5) throw new StageFailure("linux.seccomp: argument index " + index + " (0 to 5)");
        long value = number(arg, "value", 0), two = number(arg, "valueTwo", 0);
        int low = ARG0_LOW + 8 * index, high = low + 4;
        int vh = (int) (value >>> 32), vl = (int) value;
        String pass = "p" + labels++;
        String op = (String) arg.get("op");
        switch (op == null ? "" : op) {
            case "SCMP_CMP_EQ" -> {
                add(LD_W_ABS, high, null, null); add(JEQ, vh, null, fail);
                add(LD_W_ABS, low, null, null); add(JEQ, vl, null, fail);
            }
            case "SCMP_CMP_NE" -> {
                add(LD_W_ABS, high, null, null); add(JEQ, vh, null, pass);
                add(LD_W_ABS, low, null, null); add(JEQ, vl, fail, null);
            }
            case "SCMP_CMP_MASKED_EQ" -> {
                add(LD_W_ABS, high, null, null); add(AND, vh, null, null); add(JEQ, (int) (two >>> 32), null, fail);
                add(LD_W_ABS, low, null, null); add(AND, vl, null, null); add(JEQ, (int) two, null, fail);
            }
            // Unsigned, 64 bits: the high halves decide unless they are equal; then the low halves do.
            case "SCMP_CMP_GT", "SCMP_CMP_GE" -> {
                add(LD_W_ABS, high, null, null); add(JGT, vh, pass, null); add(JEQ, vh, null, fail);
                add(LD_W_ABS, low, null, null); add(op.equals("SCMP_CMP_GT") ? JGT : JGE, vl, null, fail);
            }
            case "SCMP_CMP_LT", "SCMP_CMP_LE" -> {
                add(LD_W_ABS, high, null, null); add(JGT, vh, fail, null); add(JEQ, vh, null, pass);
                add(LD_W_ABS, low, null, null); add(op.equals("SCMP_CMP_LT") ? JGE : JGT, vl, fail, null);
            }
            default -> throw new StageFailure("linux.seccomp: comparison " + op + " is not supported");
        }
        pending = pass;
    }
    // end::seccomp-block[]

    private String pending; // a label waiting for the next instruction

    void add(int code, int k, String ifTrue, String ifFalse) {
        ops.add(new Op(code, k, ifTrue, ifFalse, pending));
        pending = null;
    }

    void label(int code, int k, String label) {
        if (pending != null) throw new IllegalStateException("two labels on one instruction");
        pending = label;
        add(code, k, null, null);
    }

    void ret(int k) {
        add(RET, k, null, null);
    }

    /** Labels become forward jumps counted from the next instruction, each at most 255. */
    int[][] encode() {
        Map<String, Integer> at = new HashMap<>();
        for (int i = 0; i < ops.size(); i++) if (ops.get(i).label() != null) at.put(ops.get(i).label(), i);
        int[][] program = new int[ops.size()][];
        for (int i = 0; i < ops.size(); i++) {
            Op op = ops.get(i);
            program[i] = new int[]{op.code(), jump(at, i, op.ifTrue()), jump(at, i, op.ifFalse()), op.k()};
        }
        if (program.length > 4096) throw new StageFailure("linux.seccomp: the profile compiles to " + program.length + " instructions, over the kernel's 4096");
        return program;
    }

    static int jump(Map<String, Integer> at, int from, String label) {
        if (label == null) return 0;
        int distance = at.get(label) - from - 1;
        if (distance < 0 || distance > 255) throw new IllegalStateException("jump to " + label + " out of range: " + distance);
        return distance;
    }
}
// end::seccomp-profile[]
