package container;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

import jnr.ffi.Runtime;

import static container.LibC.*;
import static container.Narration.*;
import static container.UserNamespace.*;

/**
 * Root's powers, split up: the kernel checks a capability, not uid 0, before each privileged
 * act. A process holds five sets of them, each a bit mask (bit N is capability N):
 * bounding (the most it can ever have again), permitted (what it may switch on), effective
 * (what the kernel checks now), inheritable and ambient (what may pass through execve(2)).
 */
final class Capabilities {

    /** The capabilities by number, as <linux/capability.h> names them (without CAP_). */
    static final List<String> NAMES = List.of(
            "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
            "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
            "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
            "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
            "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
            "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE");

    // tag::default-set[]
    /**
     * Docker's default set: enough for what a root process in an image usually does (own files,
     * switch user, bind a low port, send a ping), and nothing that reaches the kernel or the
     * machine as a whole: no SYS_ADMIN (mount, sethostname, namespaces), NET_ADMIN, SYS_MODULE,
     * SYS_TIME, SYS_PTRACE, SYS_BOOT.
     */
    static final Set<String> DOCKER_DEFAULT = Set.of("CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW",
            "SETGID", "SETUID", "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE");
    // end::default-set[]

    /** A capability's number from the name Docker's flags use: NET_ADMIN, net_admin or CAP_NET_ADMIN. */
    static int numberOf(String name, String option) {
        String bare = name.toUpperCase(Locale.ROOT).replaceFirst("^CAP_", "");
        if (name.isBlank()) throw new StageFailure(option + " needs a value, a capability's name (man 7 capabilities, with or without CAP_, or ALL)");
        int number = NAMES.indexOf(bare);
        if (number < 0)
            throw new StageFailure(option + " " + name + ": no such capability (the names are those of man 7 capabilities,"
                    + " with or without CAP_, or ALL): " + String.join(" ", NAMES));
        return number;
    }

    // tag::cap-flags[]
    /**
     * What the container keeps, computed as Docker does: ALL among the drops starts from none,
     * ALL among the adds from every capability, otherwise from the default set; then the adds
     * go in and the drops come out (a name both added and dropped ends up dropped).
     */
    static Set<Integer> kept(List<String> adds, List<String> drops) {
        Set<Integer> added = numbers(adds, "--cap-add"), dropped = numbers(drops, "--cap-drop");
        Set<Integer> kept = new LinkedHashSet<>();
        if (adds.stream().anyMatch(a -> a.equalsIgnoreCase("ALL"))) for (int cap = 0; cap < NAMES.size(); cap++) kept.add(cap);
        else if (drops.stream().noneMatch(d -> d.equalsIgnoreCase("ALL"))) DOCKER_DEFAULT.forEach(name -> kept.add(NAMES.indexOf(name)));
        kept.addAll(added);
        kept.removeAll(dropped);
        return kept;
    }
    // end::cap-flags[]

    private static Set<Integer> numbers(List<String> names, String option) {
        Set<Integer> numbers = new LinkedHashSet<>();
        for (String name : names) if (!name.equalsIgnoreCase("ALL")) numbers.add(numberOf(name, option));
        return numbers;
    }

    static String namesOf(Set<Integer> caps) {
        if (caps.isEmpty()) return "none";
        return String.join(",", caps.stream().sorted().map(NAMES::get).toList());
    }

    /** "CHOWN,KILL" back to numbers: how init reads what the parent computed. */
    static Set<Integer> parse(String names) {
        Set<Integer> caps = new LinkedHashSet<>();
        if (!names.equals("none")) for (String name : names.split(",")) caps.add(NAMES.indexOf(name));
        return caps;
    }

    static long maskOf(Set<Integer> caps) {
        long mask = 0;
        for (int cap : caps) mask |= 1L << cap;
        return mask;
    }

    // tag::bounding-set[]
    /**
     * The bounding set caps what execve(2) may ever give back, even to root, even through a
     * file's capabilities: a capability out of it is gone for good, for this process and all it
     * starts. Dropping one takes CAP_SETPCAP in the effective set, which this leaves alone (so
     * SETPCAP may go like any other). The kernel may know capabilities newer than NAMES: they go too.
     */
    static void dropBoundingSet(Set<Integer> keep) {
        int last = Integer.parseInt(sysctl("kernel/cap_last_cap")); // in one read: see sysctl
        List<String> dropped = new ArrayList<>();
        for (int cap = 0; cap <= last; cap++) {
            if (keep.contains(cap)) continue;
            if (LIBC.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
                throw new StageFailure("prctl(PR_CAPBSET_DROP, " + nameOf(cap) + ") failed: " + describe(Runtime.getRuntime(LIBC).getLastError()));
            dropped.add(nameOf(cap).replace("CAP_", ""));
        }
        narrate("prctl(PR_CAPBSET_DROP, CAP_...) = 0 for the " + dropped.size() + " not kept: " + String.join(" ", dropped));
    }
    // end::bounding-set[]

    static String nameOf(int cap) {
        return cap < NAMES.size() ? "CAP_" + NAMES.get(cap) : "capability " + cap;
    }

    // tag::capset[]
    /**
     * The bounding set limits what a later execve may grant; permitted and effective are what
     * init holds now. For root, execve makes the new permitted set (inheritable | bounding), so
     * inheritable must not hold more than the container keeps: it is left empty, as Docker does
     * since CVE-2022-24769 (before, a program with inheritable file capabilities got them back).
     * The ambient set, which passes capabilities to a non-root user's programs, was emptied by
     * switchUser.
     */
    static void limitTo(Set<Integer> keep) {
        long mask = maskOf(keep);
        int low = (int) mask, high = (int) (mask >>> 32);
        int[] header = {LINUX_CAPABILITY_VERSION_3, 0}; // 0: this process
        int[] data = {low, low, 0, high, high, 0}; // {effective, permitted, inheritable} for bits 0-31, then 32-63
        check("capset({VERSION_3, 0}, {effective=permitted=0x" + Long.toHexString(mask) + ", inheritable=0})",
                () -> LIBC.capset(header, data), "");
    }
    // end::capset[]
}
