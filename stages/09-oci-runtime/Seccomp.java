package container;

import java.lang.ref.Reference;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;

import static container.LibC.*;
import static container.Narration.*;

/**
 * A seccomp filter: a small program, in the classic BPF of packet filters, that the kernel runs
 * at every system call the process makes, before the call does anything. It sees only the
 * call's number, the architecture and the six argument registers (never the memory they point
 * to), and answers allow, fail with an errno, or kill.
 */
final class Seccomp {

    /** An architecture as seccomp names it (AUDIT_ARCH_*, <linux/audit.h>) and its system call numbers. */
    record Arch(String name, int audit, Map<String, Integer> numbers, boolean hasX32) {
    }

    // tag::deny-list[]
    /**
     * Calls a container has no business making, in the spirit of Docker's default profile: new
     * namespaces and mounts (the ways out of what the earlier stages built), and mounts by the
     * newer API too (fsopen, fsconfig, fsmount and move_mount make a mount without mount(2);
     * open_tree clones one, a bind mount), the kernel's keyrings (not namespaced: shared with
     * the host), eBPF, loading kernel modules, rebooting or replacing the kernel, swap, file
     * handles (open_by_handle_at read the host's files in 2014's "shocker" escape),
     * userfaultfd (a favourite of kernel exploits) and io_uring (its rings make calls that no
     * filter sees). Each answers EPERM, as if the capability were missing. Docker does the
     * reverse: it lists some 300 calls that are allowed and refuses the rest.
     */
    static final List<String> DENIED = List.of("unshare", "setns", "mount", "umount2", "pivot_root",
            "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "open_tree_attr", "mount_setattr",
            "keyctl", "add_key", "request_key", "bpf", "reboot", "kexec_load", "kexec_file_load", "init_module",
            "finit_module", "delete_module", "swapon", "swapoff", "open_by_handle_at", "userfaultfd",
            "io_uring_setup", "io_uring_enter", "io_uring_register");
    // end::deny-list[]

    // <asm/unistd_64.h> for x86-64, <asm-generic/unistd.h> for arm64: the same call, another
    // number; but calls added since Linux 5.1 (from 424 on) have one number on every architecture.
    static final Object[] NEWER_CALLS = {"io_uring_setup", 425, "io_uring_enter", 426, "io_uring_register", 427,
            "open_tree", 428, "move_mount", 429, "fsopen", 430, "fsconfig", 431, "fsmount", 432, "fspick", 433,
            "clone3", 435, "mount_setattr", 442, "open_tree_attr", 467};
    static final Arch X86_64 = new Arch("x86_64", 0xc000003e, numbers(
            "unshare", 272, "setns", 308, "mount", 165, "umount2", 166, "pivot_root", 155, "keyctl", 250, "add_key", 248,
            "request_key", 249, "bpf", 321, "reboot", 169, "kexec_load", 246, "kexec_file_load", 320, "init_module", 175,
            "finit_module", 313, "delete_module", 176, "swapon", 167, "swapoff", 168, "open_by_handle_at", 304,
            "userfaultfd", 323, "clone", 56), true);
    static final Arch AARCH64 = new Arch("aarch64", 0xc00000b7, numbers(
            "unshare", 97, "setns", 268, "mount", 40, "umount2", 39, "pivot_root", 41, "keyctl", 219, "add_key", 217,
            "request_key", 218, "bpf", 280, "reboot", 142, "kexec_load", 104, "kexec_file_load", 294, "init_module", 105,
            "finit_module", 273, "delete_module", 106, "swapon", 224, "swapoff", 225, "open_by_handle_at", 265,
            "userfaultfd", 282, "clone", 220), false);

    private static Map<String, Integer> numbers(Object... pairs) {
        Map<String, Integer> numbers = new LinkedHashMap<>();
        for (int i = 0; i < pairs.length; i += 2) numbers.put((String) pairs[i], (Integer) pairs[i + 1]);
        for (int i = 0; i < NEWER_CALLS.length; i += 2) numbers.put((String) NEWER_CALLS[i], (Integer) NEWER_CALLS[i + 1]);
        return numbers;
    }

    /** Docker's --security-opt takes profiles, labels and more: this stage, only switching the filter off. */
    static boolean seccompWanted(List<String> securityOpts) {
        boolean wanted = true;
        for (String option : securityOpts) {
            if (!option.equals("seccomp=unconfined"))
                throw new StageFailure("--security-opt " + option + ": this stage takes only seccomp=unconfined (no_new_privs is always set)");
            wanted = false;
        }
        if (wanted) thisArch(); // an architecture without numbers here fails now, not in init
        return wanted;
    }

    static Arch thisArch() {
        return switch (System.getProperty("os.arch")) {
            case "amd64", "x86_64" -> X86_64;
            case "aarch64" -> AARCH64;
            default -> throw new StageFailure("the seccomp filter knows the system call numbers of x86_64 and aarch64 only, not of "
                    + System.getProperty("os.arch") + ": run it with --security-opt seccomp=unconfined");
        };
    }

    /**
     * One instruction of classic BPF (struct sock_filter): an opcode, a constant, and for a test
     * where to go when it holds and when not, here by the name of a return (null: the next one).
     */
    record Instruction(int code, int k, String ifTrue, String ifFalse, String comment) {
    }

    // Opcodes (<linux/bpf_common.h>): load a 32-bit word of seccomp_data, compare, return.
    static final int LD_W_ABS = 0x20, JEQ = 0x15, JGE = 0x35, JSET = 0x45, RET = 0x06;
    // Where seccomp_data (<linux/seccomp.h>) keeps the call's number, its architecture, the low half of its first argument.
    static final int NR = 0, ARCH = 4, ARG0_LOW = 16;
    // What a filter answers: allow; fail with the errno in the low 16 bits; kill the whole process.
    static final int RET_ALLOW = 0x7fff0000, RET_ERRNO = 0x00050000, RET_KILL_PROCESS = 0x80000000;
    static final int EPERM = 1, ENOSYS = 38;
    static final int X32_SYSCALL_BIT = 0x40000000;
    // CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET: clone(2) asked for a new namespace.
    static final int CLONE_NEW_ANY = 0x7e020000;

    // tag::seccomp-filter[]
    /**
     * The filter, top to bottom. First the architecture: a 64-bit process may still make 32-bit
     * calls (int 0x80), whose numbers mean other calls, so anything but this architecture is
     * killed; on x86-64 the x32 ABI's calls (number + 0x40000000) are refused too. Then one test
     * per denied call. clone(2) creates namespaces too, through its flags in the first argument,
     * which seccomp can read; clone3(2) passes them in a struct in memory, which it cannot, so
     * clone3 answers ENOSYS and the C library falls back to clone, as under Docker.
     */
    static List<Instruction> filter(Arch arch) {
        List<Instruction> program = new ArrayList<>();
        program.add(load(ARCH, "arch"));
        program.add(when(JEQ, arch.audit(), null, "kill", "AUDIT_ARCH_" + arch.name().toUpperCase()));
        program.add(load(NR, "nr"));
        if (arch.hasX32()) program.add(when(JGE, X32_SYSCALL_BIT, "eperm", null, "an x32 call"));
        for (String call : DENIED) program.add(when(JEQ, arch.numbers().get(call), "eperm", null, call));
        program.add(when(JEQ, arch.numbers().get("clone3"), "enosys", null, "clone3"));
        program.add(when(JEQ, arch.numbers().get("clone"), null, "allow", "clone"));
        program.add(load(ARG0_LOW, "clone's flags"));
        program.add(when(JSET, CLONE_NEW_ANY, "eperm", "allow", "CLONE_NEW*"));
        program.add(ret("allow", RET_ALLOW));
        program.add(ret("eperm", RET_ERRNO | EPERM));
        program.add(ret("enosys", RET_ERRNO | ENOSYS));
        program.add(ret("kill", RET_KILL_PROCESS));
        return program;
    }
    // end::seccomp-filter[]

    static Instruction load(int offset, String field) {
        return new Instruction(LD_W_ABS, offset, null, null, field);
    }

    static Instruction when(int test, int k, String ifTrue, String ifFalse, String comment) {
        return new Instruction(test, k, ifTrue, ifFalse, comment);
    }

    /** A return is also a label: the name that tests jump to. */
    static Instruction ret(String label, int k) {
        return new Instruction(RET, k, null, null, label);
    }

    /**
     * A test jumps forward by a count of instructions, counted from the next one, in one byte:
     * each label becomes that count. (So a filter can never loop: the kernel checks that it
     * ends.)
     */
    static int offset(List<Instruction> program, int from, String label) {
        if (label == null) return 0;
        for (int i = from + 1; i < program.size(); i++)
            if (program.get(i).code() == RET && program.get(i).comment().equals(label)) {
                if (i - from - 1 > 255) throw new IllegalStateException("filter too long for a jump to " + label);
                return i - from - 1;
            }
        throw new IllegalStateException("no return labelled " + label);
    }

    /** The program as the learner reads it: each line its index, what it does, and where a test goes. */
    static List<String> listing(List<Instruction> program) {
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < program.size(); i++) {
            Instruction in = program.get(i);
            String text = switch (in.code()) {
                case LD_W_ABS -> String.format("ld   [%d]", in.k());
                case RET -> String.format("ret  %s", in.comment().equals("allow") ? "ALLOW"
                        : in.comment().equals("kill") ? "KILL_PROCESS" : "ERRNO(" + in.comment().toUpperCase() + ")");
                default -> String.format("%-4s #%s, goto %d else %d", in.code() == JEQ ? "jeq" : in.code() == JGE ? "jge" : "jset",
                        in.k() >= 0 && in.k() < 0x10000 ? Integer.toString(in.k()) : "0x" + Integer.toHexString(in.k()), // a call's number, or a mask
                        i + 1 + offset(program, i, in.ifTrue()), i + 1 + offset(program, i, in.ifFalse()));
            };
            lines.add((String.format("%3d: %-36s", i, text) + (in.code() == RET ? "" : "; " + in.comment())).stripTrailing());
        }
        return lines;
    }

    // tag::no-new-privs[]
    /**
     * A promise the kernel holds the process to: no execve will ever raise its privileges again
     * (setuid and setgid bits, file capabilities are ignored), for it and all it starts. The
     * kernel accepts a seccomp filter only from a process that has made it, or that holds
     * CAP_SYS_ADMIN: a setuid program run under a filter it did not expect could be made to
     * misbehave. Set with or without the filter, as Kubernetes' allowPrivilegeEscalation: false.
     */
    static void noNewPrivileges() {
        check("prctl(PR_SET_NO_NEW_PRIVS, 1)", () -> LIBC.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "");
    }
    // end::no-new-privs[]

    // tag::install-filter[]
    /**
     * Allowed because noNewPrivileges() came first. The filter binds the calling thread and
     * whatever it starts; execve keeps it, and drops the JVM's other threads, so the command
     * runs filtered, and so do its children. There is no way to remove a filter, only to add more.
     */
    static void install(List<Instruction> program) {
        int[][] encoded = new int[program.size()][];
        for (int i = 0; i < program.size(); i++) {
            Instruction in = program.get(i);
            encoded[i] = new int[]{in.code(), offset(program, i, in.ifTrue()), offset(program, i, in.ifFalse()), in.k()};
        }
        narrate("seccomp filter, " + program.size() + " instructions:");
        listing(program).forEach(line -> narrate("  " + line));
        install(encoded);
    }

    /** The program as the kernel takes it: struct sock_filter {code, jt, jf, k}, 8 bytes each, behind a struct sock_fprog. */
    static void install(int[][] program) {
        Runtime runtime = Runtime.getRuntime(LIBC);
        Pointer instructions = Memory.allocateDirect(runtime, 8 * program.length);
        for (int i = 0; i < program.length; i++) {
            instructions.putShort(8L * i, (short) program[i][0]);
            instructions.putByte(8L * i + 2, (byte) program[i][1]);
            instructions.putByte(8L * i + 3, (byte) program[i][2]);
            instructions.putInt(8L * i + 4, program[i][3]);
        }
        Pointer fprog = Memory.allocateDirect(runtime, 16);
        fprog.putShort(0, (short) program.length);
        fprog.putAddress(8, instructions.address());
        check("prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, {len=" + program.length + ", filter=...})",
                () -> LIBC.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, fprog.address(), 0, 0), "");
        // The kernel copied the program during the call: until then the memory must not be freed.
        Reference.reachabilityFence(instructions);
        Reference.reachabilityFence(fprog);
    }
    // end::install-filter[]
}
