package workbook;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * The attack stage 07's architecture check stops: a program that makes one system call through
 * the 32-bit door this processor still has, unshare(CLONE_NEWUSER), by its 32-bit number, then
 * exits with what the call returned (0: a new user namespace; 255: EPERM).
 *
 * <ul>
 * <li>x86-64: a 64-bit program that says {@code int 0x80}: the kernel reads the i386 table,
 *     where unshare is 310. In x86-64's table, 310 is process_vm_readv, which the filter lets
 *     through: without the check, the namespace the filter refuses would be made.
 * <li>arm64: a 32-bit ARM program (the processor's AArch32 mode), whose {@code svc #0} reads
 *     the ARM table, where unshare is 337 (no call at all in arm64's).
 * </ul>
 *
 * The filter sees another AUDIT_ARCH in seccomp_data and kills the process: the shell reports
 * 159 (128 + SIGSYS). Each program is a whole ELF file, one loadable segment of header and code,
 * laid out here byte by byte, so that no compiler is needed on the machine (or in the course
 * VM, where scripts/vm-test runs this file with {@code java ForeignCall.java FILE}).
 */
public final class ForeignCall {
    private ForeignCall() {}

    public static void main(String[] args) throws IOException {
        if (args.length != 1) throw new IllegalArgumentException("usage: java ForeignCall.java FILE");
        write(Path.of(args[0]));
    }

    /** Writes this processor's program to FILE, executable by everyone. */
    public static Path write(Path file) throws IOException {
        Files.write(file, program(System.getProperty("os.arch")));
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rwxr-xr-x"));
        return file;
    }

    static byte[] program(String arch) {
        return switch (arch) {
            case "amd64", "x86_64" -> elf64(0x3e, bytes(
                    0xbb, 0x00, 0x00, 0x00, 0x10, // mov ebx, 0x10000000 (CLONE_NEWUSER)
                    0xb8, 0x36, 0x01, 0x00, 0x00, // mov eax, 310 (i386's unshare)
                    0xcd, 0x80,                   // int 0x80
                    0x89, 0xc7,                   // mov edi, eax (what it returned)
                    0xb8, 0x3c, 0x00, 0x00, 0x00, // mov eax, 60 (x86-64's exit)
                    0x0f, 0x05));                 // syscall
            case "aarch64" -> elf32Arm(words(
                    0xe3a00201,   // mov r0, #0x10000000 (CLONE_NEWUSER)
                    0xe3007151,   // movw r7, #337 (ARM's unshare)
                    0xef000000,   // svc #0
                    0xe3a07001,   // mov r7, #1 (exit, with r0: what unshare returned)
                    0xef000000)); // svc #0
            default -> throw new IllegalStateException("no 32-bit program for " + arch);
        };
    }

    /** A 64-bit little-endian executable: the 64-byte ELF header, one program header, the code. */
    static byte[] elf64(int machine, byte[] code) {
        int headers = 64 + 56;
        long base = 0x400000;
        ByteBuffer elf = ByteBuffer.allocate(headers + code.length).order(ByteOrder.LITTLE_ENDIAN);
        elf.put(bytes(0x7f, 'E', 'L', 'F', 2, 1, 1, 0)).put(new byte[8]); // ELFCLASS64, little-endian, version 1
        elf.putShort((short) 2).putShort((short) machine).putInt(1);       // ET_EXEC, the machine, version
        elf.putLong(base + headers).putLong(64).putLong(0);                // entry, program headers at 64, no sections
        elf.putInt(0).putShort((short) 64).putShort((short) 56).putShort((short) 1); // flags, sizes, one program header
        elf.putShort((short) 64).putShort((short) 0).putShort((short) 0);  // no section headers
        elf.putInt(1).putInt(5);                                           // PT_LOAD, readable and executable
        elf.putLong(0).putLong(base).putLong(base);                        // the whole file, at base
        elf.putLong(headers + code.length).putLong(headers + code.length).putLong(0x1000);
        return elf.put(code).array();
    }

    /** A 32-bit ARM executable (EABI version 5, as the kernel asks of one): header, one program header, the code. */
    static byte[] elf32Arm(byte[] code) {
        int headers = 52 + 32;
        int base = 0x10000;
        ByteBuffer elf = ByteBuffer.allocate(headers + code.length).order(ByteOrder.LITTLE_ENDIAN);
        elf.put(bytes(0x7f, 'E', 'L', 'F', 1, 1, 1, 0)).put(new byte[8]); // ELFCLASS32, little-endian, version 1
        elf.putShort((short) 2).putShort((short) 40).putInt(1);           // ET_EXEC, EM_ARM, version
        elf.putInt(base + headers).putInt(52).putInt(0);                  // entry, program headers at 52, no sections
        elf.putInt(0x05000000).putShort((short) 52).putShort((short) 32).putShort((short) 1); // EF_ARM_EABI_VER5, sizes
        elf.putShort((short) 40).putShort((short) 0).putShort((short) 0);
        elf.putInt(1).putInt(0).putInt(base).putInt(base);                // PT_LOAD: the whole file, at base
        elf.putInt(headers + code.length).putInt(headers + code.length).putInt(5).putInt(0x1000);
        return elf.put(code).array();
    }

    static byte[] bytes(int... values) {
        byte[] out = new byte[values.length];
        for (int i = 0; i < values.length; i++) out[i] = (byte) values[i];
        return out;
    }

    static byte[] words(int... values) {
        ByteBuffer out = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (int value : values) out.putInt(value);
        return out.array();
    }
}
