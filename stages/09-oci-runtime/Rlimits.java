package container;

import java.util.List;
import java.util.Map;

import static container.Bundle.*;
import static container.LibC.*;
import static container.Narration.*;

// tag::rlimits[]
/**
 * process.rlimits: setrlimit(2) for each, soft and hard. They survive execve, so init sets
 * them for the command, as its last step before execve: a JVM under a small RLIMIT_AS or
 * RLIMIT_DATA could not go on. Raising a hard limit above the current one takes CAP_SYS_RESOURCE,
 * which init has unless the machine's own root lacks it (then the engine's defaults fail here).
 */
final class Rlimits {
    /** <sys/resource.h>, in the kernel's order: RLIMIT_CPU is 0. */
    static final List<String> NAMES = List.of("RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE",
            "RLIMIT_RSS", "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS", "RLIMIT_LOCKS", "RLIMIT_SIGPENDING",
            "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_RTPRIO", "RLIMIT_RTTIME");

    /** Every limit named is one the kernel has: refused before the container is set up, not at its start. */
    static void checkNames(List<Map<String, Object>> rlimits) {
        for (Map<String, Object> rlimit : rlimits)
            if (!NAMES.contains((String) rlimit.get("type"))) throw new StageFailure("process.rlimits: no such limit " + rlimit.get("type"));
    }

    static void apply(List<Map<String, Object>> rlimits) {
        for (Map<String, Object> rlimit : rlimits) {
            String type = (String) rlimit.get("type");
            int resource = NAMES.indexOf(type);
            long[] limits = {number(rlimit, "soft", 0), number(rlimit, "hard", 0)};
            // not narrated: the line would be one more thing for a JVM already under its limits
            if (LIBC.setrlimit(resource, limits) < 0) {
                System.err.println(NAME + ": setrlimit(" + type + ", {" + limits[0] + ", " + limits[1] + "}) failed: " + describe(jnr.ffi.Runtime.getRuntime(LIBC).getLastError()));
                System.exit(STAGE_FAILED);
            }
        }
    }
}
// end::rlimits[]
