package container;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static container.Bundle.*;
import static container.KernelFiles.*;
import static container.Narration.*;

// tag::cgroups-path[]
/**
 * The container's cgroup, where the engine says: config.json's linux.cgroupsPath, a path from
 * the root of each hierarchy (Podman gives /libpod_parent/libpod-ID, Docker /docker/ID). On a
 * cgroup v1 host the same path is made in every controller's hierarchy; on v2, once, in the
 * unified one. linux.resources becomes the same control files stages 04 to 08 write, plus the
 * devices controller's list of which device files the container may open or create.
 */
final class CgroupsPath {
    final int version;
    final List<Path> groups = new ArrayList<>(); // the container's group in each hierarchy
    final List<Path> made = new ArrayList<>();   // the directories this created, outermost first

    private CgroupsPath(int version) {
        this.version = version;
    }

    /** The hierarchies to use: every v1 controller's (named ones such as name=systemd aside), or the unified one. */
    static Map<String, Path> hierarchies() {
        Map<String, Path> v1 = new LinkedHashMap<>(Cgroup.cgroupMounts("cgroup"));
        v1.keySet().removeIf(option -> !CONTROLLERS.contains(option));
        if (!v1.isEmpty()) return v1;
        Path v2 = Cgroup.cgroupMounts("cgroup2").get("");
        if (v2 == null) throw new StageFailure("no cgroup filesystem is mounted");
        return Map.of("", v2);
    }

    static final List<String> CONTROLLERS = List.of("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "pids", "blkio");

    /** Makes the group (and any missing parent) in each hierarchy and writes the limits. */
    static CgroupsPath create(String cgroupsPath, String id, Map<String, Object> resources, List<Map<String, Object>> devices) {
        String relative = cgroupsPath == null ? id : cgroupsPath.replaceFirst("^/+", "");
        if (relative.isEmpty() || Path.of(relative).normalize().startsWith("..") || relative.contains("/../") || relative.endsWith("/.."))
            throw new StageFailure("config.json: linux.cgroupsPath " + cgroupsPath + " leaves the cgroup tree");
        Map<String, Path> hierarchies = hierarchies();
        CgroupsPath cgroup = new CgroupsPath(hierarchies.containsKey("") ? 2 : 1);
        try {
            cgroup.make(hierarchies, relative, cgroupsPath);
            cgroup.limit(resources);
            cgroup.limitDevices(objects(resources.get("devices")), devices);
        } catch (RuntimeException e) {
            remove(cgroup.made, cgroup.groups); // a limit the kernel refused: nothing of the group stays
            throw e;
        }
        return cgroup;
    }

    /** The group's directory in each hierarchy, and any parent missing on the way, recorded in made. */
    void make(Map<String, Path> hierarchies, String relative, String cgroupsPath) {
        for (Path mount : new java.util.LinkedHashSet<>(hierarchies.values())) {
            Path group = mount.resolve(relative).normalize();
            if (!group.startsWith(mount)) throw new StageFailure("config.json: linux.cgroupsPath " + cgroupsPath + " leaves the cgroup tree");
            for (Path dir = mount, next; !dir.equals(group); dir = next) {
                next = dir.resolve(group.getName(dir.getNameCount()));
                if (Files.isDirectory(next)) continue;
                if (version == 2) write(dir.resolve("cgroup.subtree_control"), V2_ENABLE);
                mkdir(next);
                made.add(next);
                if (mount.endsWith("cpuset")) Cgroup.giveCpusetItsParentsCpus(next);
            }
            groups.add(group);
        }
    }

    static final String V2_ENABLE = "+cpu +memory +pids +cpuset";
    // end::cgroups-path[]

    // tag::resources[]
    /** linux.resources, field by field, into the files of v1 or v2. */
    void limit(Map<String, Object> resources) {
        Map<String, Object> memory = object(resources.get("memory")), cpu = object(resources.get("cpu")), pids = object(resources.get("pids"));
        long limit = number(memory, "limit", 0), swap = number(memory, "swap", 0), reservation = number(memory, "reservation", 0);
        long shares = number(cpu, "shares", 0), quota = number(cpu, "quota", 0), period = number(cpu, "period", 0);
        if (version == 1) {
            if (limit > 0) set("memory", "memory.limit_in_bytes", limit);
            if (swap > 0 && has("memory.memsw.limit_in_bytes")) set("memory", "memory.memsw.limit_in_bytes", swap); // only where swap is accounted
            if (reservation > 0) set("memory", "memory.soft_limit_in_bytes", reservation);
            if (memory.get("kernel") instanceof Number n) set("memory", "memory.kmem.limit_in_bytes", n);
            if (memory.get("kernelTCP") instanceof Number n) set("memory", "memory.kmem.tcp.limit_in_bytes", n);
            if (memory.get("swappiness") instanceof Number n && n.longValue() >= 0) set("memory", "memory.swappiness", n);
            if (Boolean.TRUE.equals(memory.get("disableOOMKiller"))) set("memory", "memory.oom_control", 1);
            if (shares > 0) set("cpu", "cpu.shares", shares);
            if (period > 0) set("cpu", "cpu.cfs_period_us", period);
            if (quota != 0) set("cpu", "cpu.cfs_quota_us", quota);
            if (cpu.get("cpus") instanceof String cpus && !cpus.isEmpty()) set("cpuset", "cpuset.cpus", cpus);
            if (cpu.get("mems") instanceof String mems && !mems.isEmpty()) set("cpuset", "cpuset.mems", mems);
            if (pids.get("limit") instanceof Number n) set("pids", "pids.max", n.longValue() > 0 ? n : "max");
        } else {
            if (limit > 0) set("", "memory.max", limit);
            if (swap > 0 && limit > 0 && has("memory.swap.max")) set("", "memory.swap.max", Math.max(0, swap - limit)); // v2 counts swap apart
            if (reservation > 0) set("", "memory.low", reservation);
            for (String v1Only : List.of("kernel", "kernelTCP", "swappiness", "disableOOMKiller"))
                if (memory.get(v1Only) != null && !Boolean.FALSE.equals(memory.get(v1Only)))
                    throw new StageFailure("config.json: linux.resources.memory." + v1Only + " has no cgroup v2 file");
            if (shares > 0) set("", "cpu.weight", Limits.weightOf(shares));
            if (quota != 0 || period > 0) set("", "cpu.max", (quota > 0 ? quota : "max") + " " + (period > 0 ? period : 100000));
            if (cpu.get("cpus") instanceof String cpus && !cpus.isEmpty()) set("", "cpuset.cpus", cpus);
            if (pids.get("limit") instanceof Number n) set("", "pids.max", n.longValue() > 0 ? n : "max");
        }
    }

    boolean has(String file) {
        return groups.stream().anyMatch(g -> Files.exists(g.resolve(file)));
    }

    /** The file is in one hierarchy only on v1 (memory.* in memory's): written where it exists. */
    void set(String controller, String file, Object value) {
        for (Path group : groups)
            if (Files.exists(group.resolve(file))) {
                narrate("write " + group.resolve(file) + " " + value);
                write(group.resolve(file), value.toString());
                return;
            }
        throw new StageFailure("linux.resources: no cgroup file " + file + " here (is the " + (controller.isEmpty() ? file.split("\\.")[0] : controller)
                + " controller enabled?)");
    }

    /**
     * Which device files the group may open (r, w) or create with mknod (m). The spec's rules
     * come first, in order (Podman's and Docker's first rule denies everything), then what every
     * container needs: its default device files and the pseudo-terminals, and any device in
     * linux.devices, since the container was promised it. On v1 the devices controller takes
     * them as lines in devices.allow and devices.deny; on v2 they become an eBPF program
     * (DeviceFilter). No rules: the group may open what its parent may.
     */
    void limitDevices(List<Map<String, Object>> specRules, List<Map<String, Object>> devices) {
        if (specRules.isEmpty()) return;
        List<DeviceFilter.Rule> rules = new ArrayList<>();
        for (Map<String, Object> rule : specRules)
            rules.add(new DeviceFilter.Rule(Boolean.TRUE.equals(rule.get("allow")), rule.get("type") instanceof String t && !t.isEmpty() ? t.charAt(0) : 'a',
                    number(rule, "major", -1), number(rule, "minor", -1), rule.get("access") instanceof String a ? a : "rwm"));
        for (String line : DEFAULT_ALLOWED) rules.add(DeviceFilter.Rule.of(true, line));
        for (Map<String, Object> device : devices) {
            String type = "u".equals(device.get("type")) ? "c" : (String) device.get("type"); // u: unbuffered, a character device
            if (type.equals("c") || type.equals("b")) // a FIFO ("p") is no device to the kernel: no rule needed
                rules.add(new DeviceFilter.Rule(true, type.charAt(0), number(device, "major", -1), number(device, "minor", -1), "rwm"));
        }
        if (version == 2) {
            DeviceFilter.attach(groups.get(0), rules);
            return;
        }
        Path group = groups.stream().filter(g -> Files.exists(g.resolve("devices.allow"))).findFirst()
                .orElseThrow(() -> new StageFailure("linux.resources.devices: the devices controller is not mounted"));
        for (DeviceFilter.Rule rule : rules) write(group.resolve(rule.allow() ? "devices.allow" : "devices.deny"), rule.line());
    }

    /** As runc allows: mknod of any device (the rules above still govern opening it), then the default files, /dev/pts and /dev/ptmx, and /dev/net/tun. */
    static final List<String> DEFAULT_ALLOWED = List.of("c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm",
            "c 1:9 rwm", "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm");
    // end::resources[]

    /** Moves a process into the group in every hierarchy. */
    void join(int pid) {
        for (Path group : groups) write(group.resolve("cgroup.procs"), Integer.toString(pid));
    }

    /** The PIDs in the container's group, for kill --all. */
    static List<Integer> pids(List<Path> groups) {
        for (Path group : groups)
            if (Files.exists(group.resolve("cgroup.procs")))
                return read(group.resolve("cgroup.procs")).lines().filter(l -> !l.isBlank()).map(Integer::parseInt).toList();
        return List.of();
    }

    /**
     * rmdir, innermost first, of what create made. A group empties a moment after its last
     * process is reaped, so the container's own group is tried again for a while on EBUSY; a
     * parent that holds other groups by now (the engine's own, another container's) stays.
     */
    static void remove(List<Path> made, List<Path> groups) {
        for (int i = made.size() - 1; i >= 0; i--) {
            Path dir = made.get(i);
            for (int attempt = 0; Files.exists(dir); attempt++) {
                try {
                    Files.delete(dir);
                } catch (IOException busy) {
                    if (!groups.contains(dir)) break;
                    if (attempt == 200) throw new StageFailure("cannot remove the cgroup " + dir + ": " + busy.getMessage());
                    Parent.sleep(10);
                }
            }
        }
    }
}
