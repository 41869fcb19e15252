package container;

import java.util.LinkedHashMap;
import java.util.Map;

import static container.KernelFiles.*;
import static container.Narration.*;

// tag::limits[]
/** The limits asked for, checked before anything is created; null means "no limit". */
record Limits(Double cpus, Long cpuShares, Long memoryBytes, Long pids, String cpusetCpus) {
    static final long PERIOD_US = 100_000; // the scheduler's accounting period: 100 ms

    static Limits check(Double cpus, Long shares, String memory, Long pids, String cpusetCpus) {
        int cpuCount = java.lang.Runtime.getRuntime().availableProcessors();
        if (cpus != null && !(cpus >= 0.01 && cpus <= cpuCount)) // written so that NaN fails too
            throw new StageFailure("--cpus must be between 0.01 and " + cpuCount + " (this machine's CPUs), not " + cpus);
        if (shares != null && (shares < 2 || shares > 262_144))
            throw new StageFailure("--cpu-shares must be between 2 and 262144, not " + shares);
        Long bytes = memory == null ? null : parseSize(memory);
        if (bytes != null && bytes < 6 << 20)
            throw new StageFailure("--memory must be at least 6m (a shell and its libraries need that much), not " + memory);
        if (pids != null && pids < 1)
            throw new StageFailure("--pids-limit must be at least 1, not " + pids);
        if (cpusetCpus != null) checkCpuList(cpusetCpus);
        return new Limits(cpus, shares, bytes, pids, cpusetCpus);
    }

    /** A CPU list as the kernel writes them ("0-2,5"), of CPUs this machine has online. */
    static void checkCpuList(String list) {
        String online = read(java.nio.file.Path.of("/sys/devices/system/cpu/online")).strip();
        if (!list.matches("\\d{1,4}(-\\d{1,4})?(,\\d{1,4}(-\\d{1,4})?)*"))
            throw new StageFailure("--cpuset-cpus " + list + ": expected CPU numbers and ranges, such as 0, 0-1 or 0,2 (this machine's: " + online + ")");
        java.util.Set<Integer> have = cpusIn(online);
        for (int cpu : cpusIn(list))
            if (!have.contains(cpu)) throw new StageFailure("--cpuset-cpus " + list + ": CPU " + cpu + " is not online here (this machine's: " + online + ")");
    }

    static java.util.Set<Integer> cpusIn(String list) {
        java.util.Set<Integer> cpus = new java.util.TreeSet<>();
        for (String range : list.split(",")) {
            String[] ends = range.split("-");
            int first = Integer.parseInt(ends[0]), last = Integer.parseInt(ends[ends.length - 1]);
            if (last < first) throw new StageFailure("--cpuset-cpus: " + range + " is not a range of CPUs");
            for (int cpu = first; cpu <= last; cpu++) cpus.add(cpu);
        }
        return cpus;
    }

    static long parseSize(String size) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("(\\d+)([bkmg]?)", java.util.regex.Pattern.CASE_INSENSITIVE).matcher(size);
        if (!m.matches()) throw new StageFailure("--memory " + size + ": expected a size such as 67108864, 65536k, 64m or 1g");
        int shift = switch (m.group(2).toLowerCase()) { case "k" -> 10; case "m" -> 20; case "g" -> 30; default -> 0; };
        java.math.BigInteger bytes = new java.math.BigInteger(m.group(1)).shiftLeft(shift);
        if (bytes.bitLength() > 62) // the kernel keeps limits in pages, in 64 bits: far beyond any machine's memory
            throw new StageFailure("--memory " + size + ": too large (at most 4611686018427387903 bytes, 4096 petabytes)");
        return bytes.longValue();
    }

    long quotaMicros() {
        return Math.round(cpus * PERIOD_US);
    }
    // end::limits[]

    // tag::limit-files[]
    /** cgroup v1: a hierarchy per controller, each knob a file in the group's directory there. */
    static Map<String, String> v1Files(Limits limits) {
        Map<String, String> files = new LinkedHashMap<>();
        if (limits.cpus() != null) {
            files.put("cpu/cpu.cfs_period_us", Long.toString(Limits.PERIOD_US));
            files.put("cpu/cpu.cfs_quota_us", Long.toString(limits.quotaMicros()));
        }
        if (limits.cpuShares() != null) files.put("cpu/cpu.shares", Long.toString(limits.cpuShares()));
        if (limits.memoryBytes() != null) {
            files.put("memory/memory.limit_in_bytes", Long.toString(limits.memoryBytes()));
            // memory plus swap, the same: no swap, as v2's memory.swap.max 0 says (once the memory limit is set)
            files.put("memory/memory.memsw.limit_in_bytes", Long.toString(limits.memoryBytes()));
        }
        if (limits.pids() != null) files.put("pids/pids.max", Long.toString(limits.pids()));
        if (limits.cpusetCpus() != null) files.put("cpuset/cpuset.cpus", limits.cpusetCpus());
        return files;
    }

    /** cgroup v2: one tree, every controller's files in the one directory, some knobs renamed. */
    static Map<String, String> v2Files(Limits limits) {
        Map<String, String> files = new LinkedHashMap<>();
        if (limits.cpus() != null) files.put("cpu/cpu.max", limits.quotaMicros() + " " + Limits.PERIOD_US);
        if (limits.cpuShares() != null) files.put("cpu/cpu.weight", Long.toString(weightOf(limits.cpuShares())));
        if (limits.memoryBytes() != null) {
            files.put("memory/memory.max", Long.toString(limits.memoryBytes()));
            files.put("memory/memory.swap.max", "0"); // else the kernel swaps instead of killing
        }
        if (limits.pids() != null) files.put("pids/pids.max", Long.toString(limits.pids()));
        if (limits.cpusetCpus() != null) files.put("cpuset/cpuset.cpus", limits.cpusetCpus());
        return files;
    }

    /** v1's shares (2 to 262144, default 1024) onto v2's weight (1 to 10000, default 100), as runc before 1.3.2 maps them. */
    static long weightOf(long shares) {
        return 1 + ((shares - 2) * 9999) / 262_142;
    }
    // end::limit-files[]
    // tag::limits[]
}
// end::limits[]
