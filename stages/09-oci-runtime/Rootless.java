package container;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static container.Cgroup.*;
import static container.KernelFiles.*;
import static container.Narration.*;

/** What an ordinary user gets instead of what needs root on the host: a delegated cgroup, or none, and loopback only. */
final class Rootless {

    // tag::rootless-limits[]
    /**
     * Creating a cgroup takes write access to a cgroup directory, which an ordinary user has
     * only where systemd delegated a cgroup v2 subtree to them, as rootless Podman asks it to:
     *   systemd-run --user --scope -p Delegate=yes jbang stages/09-oci-runtime/Main.java --memory 64m
     * runs the stage in a group of its own that belongs to the user. A group that holds
     * processes cannot hand controllers down to children (v2's "no internal processes" rule),
     * so the parent first moves into a leaf group, "parent"; the container's group then goes
     * under "workbook" beside it, as with root. systemd removes the whole subtree with the scope.
     */
    static Cgroup delegatedCgroup(Path fakeV2, Limits limits) {
        List<String> needed = new ArrayList<>();
        if (limits.cpus() != null || limits.cpuShares() != null) needed.add("cpu");
        if (limits.memoryBytes() != null) needed.add("memory");
        if (limits.pids() != null) needed.add("pids");
        if (needed.isEmpty()) {
            narrate("cgroup: none, no limit was asked for");
            return null;
        }
        Path v2 = fakeV2 != null ? fakeV2 : cgroupMounts("cgroup2").get("");
        Path own = v2 == null ? null : v2.resolve(ownCgroup());
        if (own == null || !Files.isWritable(own.resolve("cgroup.subtree_control")))
            throw new StageFailure("--cpus, --cpu-shares, --memory and --pids-limit need a cgroup, and an ordinary user may create"
                    + " cgroups only in a cgroup v2 group systemd delegated to them: run it with sudo, or under"
                    + " systemd-run --user --scope -p Delegate=yes");
        Set<String> offered = Set.of(read(own.resolve("cgroup.controllers")).trim().split("\\s+"));
        for (String controller : needed)
            if (!offered.contains(controller))
                throw new StageFailure("the cgroup systemd delegated to you, " + own + ", has no " + controller + " controller (it has "
                        + offered + "): add it to Delegate= for user@.service, or run it with sudo");
        narrate("cgroup v2, delegated to you by systemd: " + own);
        Path leaf = own.resolve("parent");
        mkdir(leaf);
        write(leaf.resolve("cgroup.procs"), Long.toString(ProcessHandle.current().pid()));
        Map<String, Path> mounts = new LinkedHashMap<>();
        for (String controller : needed) mounts.put(controller, own);
        return new Cgroup(2, mounts);
    }

    /** This process's cgroup v2 group, from the "0::PATH" line of /proc/self/cgroup, relative to the mount. */
    static String ownCgroup() {
        return read(Path.of("/proc/self/cgroup")).lines().filter(l -> l.startsWith("0::")).findFirst()
                .map(l -> l.substring(4)).orElse("");
    }

    /** Creating a veth pair or a bridge needs CAP_NET_ADMIN over the host's network namespace. */
    static Network loopbackOnly(Address requested) {
        String why = "an ordinary user may not create links on the host (rootless Podman uses slirp4netns or pasta instead)";
        if (requested != null) throw new StageFailure("--ip needs the bridge wb0, and " + why + ": run it with sudo to use it");
        narrate("network: loopback only, " + why);
        return null;
    }
    // end::rootless-limits[]
}
