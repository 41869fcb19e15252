package container;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

// tag::default-spec[]
/**
 * What `spec` writes, close to runc's own: sh in a busybox root at ./rootfs, Docker's default
 * capabilities, the usual /proc, /dev, /dev/pts, /dev/shm, /dev/mqueue and /sys mounts, new
 * pid, network, ipc, uts and mount namespaces, and the host-wide /proc files masked or made
 * read-only (stage 07's lists). Unlike runc's, terminal is false: this runtime makes a terminal
 * only for an engine, which takes it over --console-socket (Console); run has none of its own.
 * --rootless adds a user namespace mapping its caller to root inside, and drops what an
 * ordinary user may not do (a network namespace's loopback aside).
 */
final class DefaultSpec {
    static Map<String, Object> of(boolean rootless, int uid, int gid) {
        List<String> caps = Capabilities.DOCKER_DEFAULT.stream().sorted().map(c -> "CAP_" + c).toList();
        List<Object> mounts = new ArrayList<>(List.of(
                mount("/proc", "proc", "proc", List.of()),
                mount("/dev", "tmpfs", "tmpfs", List.of("nosuid", "strictatime", "mode=755", "size=65536k")),
                mount("/dev/pts", "devpts", "devpts", rootless ? List.of("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620")
                        : List.of("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5")),
                mount("/dev/shm", "tmpfs", "shm", List.of("nosuid", "noexec", "nodev", "mode=1777", "size=65536k")),
                mount("/dev/mqueue", "mqueue", "mqueue", List.of("nosuid", "noexec", "nodev")),
                rootless ? mount("/sys", "none", "/sys", List.of("rbind", "nosuid", "noexec", "nodev", "ro"))
                        : mount("/sys", "sysfs", "sysfs", List.of("nosuid", "noexec", "nodev", "ro"))));
        if (!rootless) mounts.add(mount("/sys/fs/cgroup", "cgroup", "cgroup", List.of("nosuid", "noexec", "nodev", "relatime", "ro")));
        List<Object> namespaces = new ArrayList<>();
        for (String type : List.of("pid", "network", "ipc", "uts", "mount")) namespaces.add(Json.of("type", type));
        Map<String, Object> linux = Json.of("namespaces", namespaces,
                "maskedPaths", List.copyOf(Mounts.MASKED), "readonlyPaths", List.copyOf(Mounts.READ_ONLY));
        if (rootless) {
            namespaces.add(Json.of("type", "user"));
            linux.put("uidMappings", List.of(Json.of("containerID", 0L, "hostID", (long) uid, "size", 1L)));
            linux.put("gidMappings", List.of(Json.of("containerID", 0L, "hostID", (long) gid, "size", 1L)));
        } else {
            linux.put("resources", Json.of("devices", List.of(Json.of("allow", false, "access", "rwm"))));
        }
        return Json.of("ociVersion", RuntimeState.OCI_VERSION,
                "process", Json.of("terminal", false, "user", Json.of("uid", 0L, "gid", 0L),
                        "args", List.of("sh"), "env", List.of("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"),
                        "cwd", "/", "capabilities", Json.of("bounding", caps, "effective", caps, "permitted", caps),
                        "rlimits", List.of(Json.of("type", "RLIMIT_NOFILE", "hard", 1024L, "soft", 1024L)), "noNewPrivileges", true),
                "root", Json.of("path", "rootfs", "readonly", true),
                "hostname", "workbook",
                "mounts", mounts,
                "linux", linux);
    }

    static Map<String, Object> mount(String destination, String type, String source, List<String> options) {
        return Json.of("destination", destination, "type", type, "source", source, "options", options);
    }
    // end::default-spec[]

    /** runc features' shape: what a caller may ask of this runtime. */
    static Map<String, Object> features() {
        List<String> options = new ArrayList<>(BundleMounts.SET.keySet());
        options.addAll(BundleMounts.CLEAR.keySet());
        options.addAll(BundleMounts.PROPAGATION.keySet());
        return Json.of("ociVersionMin", "1.0.0", "ociVersionMax", RuntimeState.OCI_VERSION, "hooks", List.of(),
                "mountOptions", options.stream().sorted().toList(),
                "linux", Json.of("namespaces", Bundle.NAMESPACES, "capabilities", Capabilities.NAMES.stream().map(c -> "CAP_" + c).toList(),
                        "cgroup", Json.of("v1", true, "v2", true, "systemd", false, "systemdUser", false),
                        "seccomp", Json.of("enabled", true, "actions", List.of("SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL",
                                "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"),
                                "operators", List.of("SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"),
                                "archs", List.of("SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64")), "apparmor", Json.of("enabled", false), "selinux", Json.of("enabled", false)));
    }

    /** JSON with two-space indents, for a file a person edits. */
    static String pretty(Object value) {
        return pretty(value, "");
    }

    static String pretty(Object value, String indent) {
        String inner = indent + "  ";
        if (value instanceof Map<?, ?> map && !map.isEmpty())
            return "{\n" + String.join(",\n", map.entrySet().stream().map(e -> inner + Json.quote((String) e.getKey()) + ": " + pretty(e.getValue(), inner)).toList())
                    + "\n" + indent + "}";
        if (value instanceof List<?> list && !list.isEmpty() && !(list.get(0) instanceof String))
            return "[\n" + String.join(",\n", list.stream().map(v -> inner + pretty(v, inner)).toList()) + "\n" + indent + "]";
        return Json.write(value);
    }
}
