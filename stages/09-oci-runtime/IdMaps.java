package container;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static container.KernelFiles.*;
import static container.LibC.*;
import static container.Narration.*;

// tag::id-maps[]
/**
 * uid_map and gid_map hold lines of "first-ID-inside first-ID-outside count". The kernel
 * lets each map be written once, and only by a process with CAP_SETUID (CAP_SETGID) over
 * the namespace's parent: root on the host may map any range. Anyone else may map exactly
 * one ID, their own; and for gid_map only once setgroups(2) is denied in the namespace,
 * else root inside could drop a group the host uses to keep it *out* of a file (mode 0705).
 */
record IdMaps(List<long[]> uids, List<long[]> gids) {
    /**
     * Unlike stages 06 and 07, no range by default with sudo: root inside is the host's root,
     * as in rootful Docker. A remapped root could not enter the store, which is closed to
     * others (Store.closeToOthers), nor change the image's files, which are the host root's.
     * The store being root's alone is what keeps other users from what such a root writes.
     */
    static IdMaps check(List<String> uidSpecs, List<String> gidSpecs, boolean rootless) {
        int uid = LIBC.geteuid(), gid = LIBC.getegid();
        List<long[]> uids = uidSpecs.isEmpty() ? List.of(new long[]{0, uid, 1}) : parse("--uid-map", uidSpecs);
        List<long[]> gids = gidSpecs.isEmpty() ? List.of(new long[]{0, gid, 1}) : parse("--gid-map", gidSpecs);
        if (rootless) {
            onlyYourOwn("--uid-map", uids, uid);
            onlyYourOwn("--gid-map", gids, gid);
        }
        requireRootInside("--uid-map", uids);
        requireRootInside("--gid-map", gids);
        return new IdMaps(uids, gids);
    }

    static final long LAST_ID = 4_294_967_294L;

    static List<long[]> parse(String option, List<String> specs) {
        List<long[]> map = new ArrayList<>();
        for (String spec : specs) {
            if (!spec.matches("\\d{1,10}:\\d{1,10}:\\d{1,10}"))
                throw new StageFailure(option + " " + spec + ": expected CONTAINER:HOST:COUNT, e.g. 0:100000:65536");
            long[] line = Arrays.stream(spec.split(":")).mapToLong(Long::parseLong).toArray();
            if (line[2] < 1 || line[0] + line[2] > LAST_ID + 1 || line[1] + line[2] > LAST_ID + 1)
                throw new StageFailure(option + " " + spec + ": COUNT must be at least 1, and IDs end at " + LAST_ID
                        + " (4294967295 is (uid_t) -1, which means no ID)");
            for (long[] earlier : map)
                if (overlap(line, earlier, 0) || overlap(line, earlier, 1))
                    throw new StageFailure(option + " " + spec + " overlaps " + earlier[0] + ":" + earlier[1] + ":" + earlier[2]
                            + ": each ID may be mapped once, each way");
            map.add(line);
        }
        return map;
    }

    static boolean overlap(long[] a, long[] b, int side) {
        return a[side] < b[side] + b[2] && b[side] < a[side] + a[2];
    }

    static void onlyYourOwn(String option, List<long[]> map, long own) {
        if (map.size() != 1 || map.get(0)[1] != own || map.get(0)[2] != 1)
            throw new StageFailure(option + ": an ordinary user may map one ID only, their own (" + own
                    + "): run it with sudo for more (rootless Podman gets more from newuidmap and /etc/subuid)");
    }

    static void requireRootInside(String option, List<long[]> map) {
        if (map.stream().noneMatch(line -> line[0] == 0))
            throw new StageFailure(option + ": nothing is mapped to 0 inside, so there would be no root to set the container up");
    }

    /** The host uid that uid 0 inside is: the owner a container's own directories need. */
    int rootOnHost() {
        return (int) uids.stream().filter(line -> line[0] == 0).findFirst().orElseThrow()[1];
    }

    /** --user must name IDs that exist inside: an unmapped uid cannot be switched to (EINVAL). */
    void requireMapped(User user) {
        if (user == null) return;
        if (!covers(uids, user.uid())) throw new StageFailure("--user: uid " + user.uid() + " is not mapped inside: add a --uid-map that covers it");
        if (!covers(gids, user.gid())) throw new StageFailure("--user: gid " + user.gid() + " is not mapped inside: add a --gid-map that covers it");
    }

    static boolean covers(List<long[]> map, long id) {
        return map.stream().anyMatch(line -> line[0] <= id && id < line[0] + line[2]);
    }

    /** While init waits on the start pipe: its namespace has no IDs at all until these are written. */
    void writeFor(int pid, boolean rootless) {
        Path proc = Path.of("/proc/" + pid);
        write(proc.resolve("uid_map"), lines(uids));
        if (rootless) write(proc.resolve("setgroups"), "deny");
        write(proc.resolve("gid_map"), lines(gids));
    }

    static String lines(List<long[]> map) {
        return String.join("\n", map.stream().map(line -> line[0] + " " + line[1] + " " + line[2]).toList());
    }
}
// end::id-maps[]
