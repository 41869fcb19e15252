package container;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import static container.KernelFiles.*;
import static container.Limits.*;
import static container.Narration.*;

// tag::cgroup[]
/**
 * The container's cgroup. A cgroup is a directory in a cgroup filesystem: mkdir creates the
 * group, writing a PID to its cgroup.procs moves that process in (its children follow it),
 * writing a control file sets a limit, and rmdir removes the empty group.
 */
final class Cgroup {
    final int version;
    final Map<String, Path> mounts;               // controller -> where its hierarchy is mounted
    final Map<String, Path> groups = new LinkedHashMap<>(); // controller -> the container's group there

    Cgroup(int version, Map<String, Path> mounts) {
        this.version = version;
        this.mounts = mounts;
    }

    /** v2 if the unified hierarchy offers the cpu controller, else v1 if a hierarchy has it. */
    static Cgroup find(Path fakeV2, Limits limits) {
        List<String> needed = neededControllers(limits);
        Path v2 = fakeV2 != null ? fakeV2 : cgroupMounts("cgroup2").get("");
        Set<String> v2Controllers = v2 == null ? Set.of() : Set.of(read(v2.resolve("cgroup.controllers")).trim().split("\\s+"));
        if (v2Controllers.contains("cpu")) {
            for (String controller : needed)
                if (!v2Controllers.contains(controller))
                    throw new StageFailure("cgroup v2 at " + v2 + " has no " + controller + " controller (it offers " + v2Controllers + ")");
            narrate("cgroup v2: one hierarchy at " + v2 + ", controllers " + String.join(" ", new TreeSet<>(v2Controllers)));
            Map<String, Path> mounts = new LinkedHashMap<>();
            for (String controller : needed) mounts.put(controller, v2);
            return new Cgroup(2, mounts);
        }
        Map<String, Path> v1 = cgroupMounts("cgroup");
        if (!v1.containsKey("cpu"))
            throw new StageFailure("no usable cpu controller: cgroup v2" + (v2 == null ? " is not mounted" : " at " + v2 + " offers " + v2Controllers)
                    + " and no cgroup v1 hierarchy has cpu. The course VM has it; elsewhere boot with systemd.unified_cgroup_hierarchy=1");
        Map<String, Path> mounts = new LinkedHashMap<>();
        for (String controller : needed) {
            if (!v1.containsKey(controller))
                throw new StageFailure("no cgroup v1 hierarchy has the " + controller + " controller (mounted: " + v1.keySet() + ")");
            mounts.put(controller, v1.get(controller));
        }
        if (v1.containsKey("cpuacct")) mounts.put("cpuacct", v1.get("cpuacct")); // v1 counts CPU time there
        // v1's freezer is a hierarchy of its own: a container must be in it from the start to be paused.
        // (v2 has it in every group: cgroup.freeze.)
        if (v1.containsKey("freezer")) mounts.put("freezer", v1.get("freezer"));
        narrate("cgroup v1: a hierarchy per controller: " + mounts);
        return new Cgroup(1, mounts);
    }

    static List<String> neededControllers(Limits limits) {
        List<String> needed = new ArrayList<>(List.of("cpu"));
        if (limits.memoryBytes() != null) needed.add("memory");
        if (limits.pids() != null) needed.add("pids");
        if (limits.cpusetCpus() != null) needed.add("cpuset");
        return needed;
    }

    /** Creates the group in each hierarchy (adding each to made) and writes the limits. */
    void create(String name, Limits limits, List<Path> made) {
        for (Map.Entry<String, Path> mount : mounts.entrySet()) {
            Path group = mount.getValue().resolve(WORKBOOK_GROUP).resolve(name);
            if (!groups.containsValue(group)) {
                if (version == 2) enableControllers(mount.getValue(), mount.getValue().resolve(WORKBOOK_GROUP));
                mkdir(group);
                made.add(group);
            }
            groups.put(mount.getKey(), group);
        }
        if (version == 1 && groups.containsKey("cpuset")) giveCpusetItsParentsCpus(groups.get("cpuset"));
        (version == 1 ? v1Files(limits) : v2Files(limits)).forEach((file, value) -> {
            String[] controllerAndName = file.split("/");
            Path target = groups.get(controllerAndName[0]).resolve(controllerAndName[1]);
            if (controllerAndName[1].matches("memory\\.(swap\\.max|memsw\\.limit_in_bytes)") && !Files.exists(target))
                return; // the kernel does not account swap here
            write(target, value);
        });
    }

    /**
     * A new v1 cpuset group starts with no CPUs and no memory nodes, and takes no process until
     * it has both: each group on the way down gets its parent's (v2 fills them in itself).
     */
    static void giveCpusetItsParentsCpus(Path group) {
        for (Path dir : List.of(group.getParent(), group))
            for (String file : List.of("cpuset.cpus", "cpuset.mems"))
                if (read(dir.resolve(file)).isBlank()) write(dir.resolve(file), read(dir.getParent().resolve(file)).strip());
    }

    /** v2 offers a controller to a group's children only if the group's cgroup.subtree_control lists it. */
    void enableControllers(Path root, Path workbookGroup) {
        String enable = mounts.keySet().stream().map(c -> "+" + c).reduce((a, b) -> a + " " + b).orElseThrow();
        write(root.resolve("cgroup.subtree_control"), enable);
        mkdir(workbookGroup);
        write(workbookGroup.resolve("cgroup.subtree_control"), enable);
    }

    /** Moves init into the group in every hierarchy, before it runs anything of the container's. */
    void join(int pid) {
        for (Path group : new LinkedHashSet<>(groups.values())) write(group.resolve("cgroup.procs"), Integer.toString(pid));
    }

    /** CPU time the group has used, in microseconds, from the kernel's own accounting; -1 if unreadable. */
    long usageMicros() {
        try {
            if (version == 2)
                return read(groups.get("cpu").resolve("cpu.stat")).lines().filter(l -> l.startsWith("usage_usec "))
                        .mapToLong(l -> Long.parseLong(l.substring(11).trim())).findFirst().orElse(-1);
            Path accounting = groups.get("cpuacct");
            return accounting == null ? -1 : Long.parseLong(read(accounting.resolve("cpuacct.usage")).trim()) / 1000;
        } catch (RuntimeException e) {
            return -1;
        }
    }

    /** The workbook's own group holds the containers' groups; the last container out removes it. */
    void removeSharedParentIfEmpty() {
        for (Path mount : new LinkedHashSet<>(mounts.values())) {
            try {
                Files.deleteIfExists(mount.resolve(WORKBOOK_GROUP));
            } catch (IOException stillInUse) {
                // another container of the workbook is running
            }
        }
    }
    // end::cgroup[]

    static final String WORKBOOK_GROUP = "workbook";

    /** Mount points of cgroup filesystems of a type, by controller ("" for cgroup2). */
    static Map<String, Path> cgroupMounts(String type) {
        Map<String, Path> mounts = new LinkedHashMap<>();
        for (String line : read(Path.of("/proc/self/mountinfo")).lines().toList()) {
            String[] halves = line.split(" - ");
            String[] left = halves[0].split(" "), right = halves[1].split(" ");
            if (!right[0].equals(type)) continue;
            Path mountPoint = Path.of(left[4]);
            if (type.equals("cgroup2")) mounts.putIfAbsent("", mountPoint);
            else for (String option : right[2].split(",")) mounts.putIfAbsent(option, mountPoint);
        }
        return mounts;
    }
    // tag::cgroup[]
}
// end::cgroup[]
