package container;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;

import static container.LibC.*;
import static container.Narration.*;

// tag::device-filter[]
/**
 * Which device files a container may open or create, on cgroup v2. v1 had a controller with a
 * list (devices.allow, devices.deny); v2 has none: the kernel instead runs a small eBPF program
 * attached to the group at every open(2) or mknod(2) of a device file, and the program's answer,
 * 1 or 0, is allowed or EPERM. The program is this runtime's to write, as runc's is: the same
 * rules as v1's list, compiled to eBPF instructions, loaded with bpf(BPF_PROG_LOAD) (the kernel's
 * verifier checks it first) and attached with bpf(BPF_PROG_ATTACH). It stays with the group
 * until the group is removed.
 *
 * The rules are read as v1 applies them, in order, each overriding what came before: the
 * program checks them last one first, and the first that matches answers. A request no rule
 * matches is allowed, as a new v1 group inherits its parent's "everything" (Podman's and
 * Docker's first rule denies everything, so that never happens with them).
 */
final class DeviceFilter {
    /** One rule: allow or deny; type 'a' (all), 'c' or 'b'; major and minor, -1 for any; access, of r, w and m. */
    record Rule(boolean allow, char type, long major, long minor, String access) {
        /** A rule as v1's files write it: "c 1:3 rwm", "a", "b *:* m". */
        static Rule of(boolean allow, String line) {
            String[] parts = line.split(" ");
            if (parts[0].equals("a")) return new Rule(allow, 'a', -1, -1, "rwm");
            String[] numbers = parts[1].split(":");
            return new Rule(allow, parts[0].charAt(0), numbers[0].equals("*") ? -1 : Long.parseLong(numbers[0]),
                    numbers[1].equals("*") ? -1 : Long.parseLong(numbers[1]), parts[2]);
        }

        /** The rule as v1's devices.allow or devices.deny takes it. */
        String line() {
            return type == 'a' ? "a" : type + " " + (major < 0 ? "*" : major) + ":" + (minor < 0 ? "*" : minor) + " " + access;
        }
    }

    // The program's input, struct bpf_cgroup_dev_ctx: access_type (the type in its low 16 bits,
    // the access asked for in its high 16), major, minor; each a 32-bit number.
    static final int DEV_BLOCK = 1, DEV_CHAR = 2, ACC_MKNOD = 1, ACC_READ = 2, ACC_WRITE = 4;

    // eBPF's instructions used here (<linux/bpf_common.h>, <linux/bpf.h>): each is 8 bytes, an
    // opcode, a destination and a source register, a 16-bit jump offset and a 32-bit constant.
    static final int LDX_W = 0x61, AND_K = 0x54, RSH_K = 0x74, MOV_X = 0xbc, MOV_K = 0xb4, JNE_K = 0x55, JEQ_K = 0x15, EXIT = 0x95;

    /** The rules as eBPF: registers 2 to 5 hold the type, access, major and minor; R0 is the answer. */
    static byte[] compile(List<Rule> rules) {
        List<long[]> program = new ArrayList<>();
        program.add(insn(LDX_W, 2, 1, 0, 0));      // r2 = ctx->access_type
        program.add(insn(AND_K, 2, 0, 0, 0xffff)); // r2 &= 0xffff: the device's type
        program.add(insn(LDX_W, 3, 1, 0, 0));      // r3 = ctx->access_type
        program.add(insn(RSH_K, 3, 0, 0, 16));     // r3 >>= 16: the access asked for
        program.add(insn(LDX_W, 4, 1, 4, 0));      // r4 = ctx->major
        program.add(insn(LDX_W, 5, 1, 8, 0));      // r5 = ctx->minor
        boolean answered = false;
        for (int i = rules.size() - 1; i >= 0 && !answered; i--) { // the last rule first
            List<long[]> block = block(rules.get(i));
            program.addAll(block);
            answered = block.size() == 2; // no test: it matches every request, and the rules before it are never reached
        }
        if (!answered) {
            program.add(insn(MOV_K, 0, 0, 0, 1));  // no rule matched: allowed
            program.add(insn(EXIT, 0, 0, 0, 0));
        }
        ByteBuffer code = ByteBuffer.allocate(program.size() * 8).order(ByteOrder.LITTLE_ENDIAN);
        for (long[] i : program) code.put((byte) i[0]).put((byte) (i[1] | i[2] << 4)).putShort((short) i[3]).putInt((int) i[4]);
        return code.array();
    }

    /**
     * One rule: each test that fails jumps past the rest of the block to the next rule. An
     * allow rule matches a request that asks for nothing beyond its access; a deny rule one
     * that asks for any of its access.
     */
    static List<long[]> block(Rule rule) {
        List<long[]> tests = new ArrayList<>();
        if (rule.type() != 'a') tests.add(insn(JNE_K, 2, 0, 0, rule.type() == 'b' ? DEV_BLOCK : DEV_CHAR));
        int access = (rule.access().contains("m") ? ACC_MKNOD : 0) | (rule.access().contains("r") ? ACC_READ : 0) | (rule.access().contains("w") ? ACC_WRITE : 0);
        if (access != 7) {
            tests.add(insn(MOV_X, 1, 3, 0, 0));                                   // r1 = the access asked for
            if (rule.allow()) {
                tests.add(insn(AND_K, 1, 0, 0, ~access & 7));                     // r1 &= what the rule does not allow
                tests.add(insn(JNE_K, 1, 0, 0, 0));                               // asks for more: not this rule
            } else {
                tests.add(insn(AND_K, 1, 0, 0, access));                          // r1 &= what the rule denies
                tests.add(insn(JEQ_K, 1, 0, 0, 0));                               // asks for none of it: not this rule
            }
        }
        if (rule.major() >= 0) tests.add(insn(JNE_K, 4, 0, 0, rule.major()));
        if (rule.minor() >= 0) tests.add(insn(JNE_K, 5, 0, 0, rule.minor()));
        List<long[]> block = new ArrayList<>();
        for (int i = 0; i < tests.size(); i++) {
            long[] test = tests.get(i);
            if (test[0] == JNE_K || test[0] == JEQ_K) test[3] = tests.size() - i - 1 + 2; // past the tests after it, and the answer's two
            block.add(test);
        }
        block.add(insn(MOV_K, 0, 0, 0, rule.allow() ? 1 : 0)); // the answer
        block.add(insn(EXIT, 0, 0, 0, 0));
        return block;
    }

    static long[] insn(int opcode, int dst, int src, int offset, long constant) {
        return new long[]{opcode, dst, src, offset, constant};
    }

    // <linux/bpf.h>
    static final int BPF_PROG_LOAD = 5, BPF_PROG_ATTACH = 8, BPF_PROG_TYPE_CGROUP_DEVICE = 15, BPF_CGROUP_DEVICE = 6, BPF_F_ALLOW_MULTI = 2;

    /**
     * bpf(2) takes a command and a union bpf_attr, whose fields for each command are laid out
     * here by hand. BPF_PROG_LOAD: prog_type 0, insn_cnt 4, insns 8, license 16, log_level 24,
     * log_size 28, log_buf 32. BPF_PROG_ATTACH: target_fd 0, attach_bpf_fd 4, attach_type 8,
     * attach_flags 12. If the verifier refuses the program, its log says why.
     */
    static void attach(Path group, List<Rule> rules) {
        Runtime runtime = Runtime.getRuntime(LIBC);
        byte[] code = compile(rules);
        int program = load(code, 0);
        if (program < 0) {
            int errno = runtime.getLastError();
            String[] log = verifierLog(code).strip().split("\n"); // loaded again, for the verifier's reasons
            throw new StageFailure("bpf(BPF_PROG_LOAD, the device filter, " + code.length / 8 + " instructions) failed: " + describe(errno)
                    + ": " + log[Math.max(0, log.length - 2)]);
        }
        narrate("bpf(BPF_PROG_LOAD, {BPF_PROG_TYPE_CGROUP_DEVICE, " + code.length / 8 + " instructions, " + rules.size() + " rules}) = " + program);
        int dir = check("open(\"" + group + "\", O_RDONLY|O_DIRECTORY|O_CLOEXEC)", () -> LIBC.open(group.toString(), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0), "");
        try {
            Pointer attach = Memory.allocateDirect(runtime, 128, true);
            attach.putInt(0, dir);
            attach.putInt(4, program);
            attach.putInt(8, BPF_CGROUP_DEVICE);
            attach.putInt(12, BPF_F_ALLOW_MULTI); // beside any program a parent group has: both must say yes
            check("bpf(BPF_PROG_ATTACH, {" + group + ", " + program + ", BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI})",
                    () -> (int) LIBC.syscall(bpfNumber(), BPF_PROG_ATTACH, attach, 128), "");
        } finally {
            LIBC.close(dir);
            LIBC.close(program); // the group holds the program now
        }
    }

    /** BPF_PROG_LOAD: the program's descriptor, or -1. A log of the verifier's, if logSize is not 0 (too small a log is itself an error, ENOSPC). */
    static int load(byte[] code, int logSize, Pointer... log) {
        Runtime runtime = Runtime.getRuntime(LIBC);
        Pointer insns = Memory.allocateDirect(runtime, code.length);
        insns.put(0, code, 0, code.length);
        byte[] licence = "Apache-2.0\0".getBytes(StandardCharsets.US_ASCII);
        Pointer licencePointer = Memory.allocateDirect(runtime, licence.length);
        licencePointer.put(0, licence, 0, licence.length);
        Pointer load = Memory.allocateDirect(runtime, 128, true);
        load.putInt(0, BPF_PROG_TYPE_CGROUP_DEVICE);
        load.putInt(4, code.length / 8);
        load.putLong(8, insns.address());
        load.putLong(16, licencePointer.address());
        if (logSize > 0) {
            load.putInt(24, 1);
            load.putInt(28, logSize);
            load.putLong(32, log[0].address());
        }
        int program = (int) LIBC.syscall(bpfNumber(), BPF_PROG_LOAD, load, 128);
        java.lang.ref.Reference.reachabilityFence(insns); // the memory they point to is freed with them
        java.lang.ref.Reference.reachabilityFence(licencePointer);
        return program;
    }

    static String verifierLog(byte[] code) {
        Pointer log = Memory.allocateDirect(Runtime.getRuntime(LIBC), 1 << 20, true);
        int program = load(code, 1 << 20, log);
        if (program >= 0) LIBC.close(program);
        return log.getString(0);
    }

    static long bpfNumber() {
        return (Seccomp.thisArch() == Seccomp.X86_64 ? SyscallNumbers.X86_64 : SyscallNumbers.AARCH64).get("bpf");
    }
}
// end::device-filter[]
