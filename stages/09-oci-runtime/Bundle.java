package container;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static container.Narration.*;

// tag::bundle[]
/**
 * An OCI bundle: a directory holding config.json and, usually, the root filesystem. The runtime
 * spec says what each field of config.json means; this class reads the fields into plain Java
 * values and refuses, in one line, any field this runtime does not honour. The spec says a
 * runtime MUST apply most of them or fail: a container that runs with a limit or a filter
 * silently left out is worse than one that does not run.
 */
final class Bundle {
    final Path dir;
    final Map<String, Object> config;

    private Bundle(Path dir, Map<String, Object> config) {
        this.dir = dir;
        this.config = config;
    }

    static Bundle load(Path dir) {
        Path file = dir.resolve("config.json");
        if (!Files.isRegularFile(file)) throw new StageFailure("no config.json in the bundle " + dir + " (make one with: spec --bundle " + dir + ")");
        try {
            Bundle bundle = new Bundle(dir.toAbsolutePath().normalize(), Json.object(Json.parse(Files.readString(file)), "config.json"));
            bundle.refuseWhatIsNotHonoured();
            return bundle;
        } catch (IOException e) {
            throw new StageFailure(file + ": " + e.getMessage());
        } catch (IllegalArgumentException | ClassCastException e) {
            throw new StageFailure(file + ": " + e.getMessage());
        }
    }

    // tag::refused[]
    /** Fields the spec says MUST be applied, which this runtime does not: create stops here, before it changes anything. */
    void refuseWhatIsNotHonoured() {
        if (process() == null) throw new StageFailure("config.json has no process: create needs one to run");
        if (args().isEmpty()) throw new StageFailure("config.json: process.args is empty: what should the container run?");
        for (String field : List.of("apparmorProfile", "selinuxLabel", "ioPriority", "scheduler", "execCPUAffinity"))
            if (process().get(field) != null) throw new StageFailure("config.json: process." + field + " is set, and this runtime does not apply it");
        for (String field : List.of("intelRdt", "personality", "mountLabel", "timeOffsets"))
            if (linux().get(field) != null) throw new StageFailure("config.json: linux." + field + " is set, and this runtime does not apply it");
        Map<String, Object> resources = object(linux().get("resources"));
        for (String field : List.of("blockIO", "hugepageLimits", "network", "rdma", "unified"))
            if (setsSomething(resources.get(field)))
                throw new StageFailure("config.json: linux.resources." + field + " is set, and this runtime sets only memory, cpu, pids and devices");
        for (Map<String, Object> ns : namespaces()) {
            String type = (String) ns.get("type");
            if (!NAMESPACES.contains(type)) throw new StageFailure("config.json: linux.namespaces: no such type " + type + " (" + NAMESPACES + ")");
            if (ns.get("path") != null && type.equals("mount"))
                throw new StageFailure("config.json: a mount namespace joined by path: this runtime switches the root with pivot_root, which"
                        + " would switch it for everything in that namespace; it needs a new one");
        }
        if (!mappings("uidMappings").isEmpty() && !hasNewNamespace("user"))
            throw new StageFailure("config.json: linux.uidMappings without a new user namespace");
        if (hasNewNamespace("user") && mappings("uidMappings").isEmpty())
            throw new StageFailure("config.json: a new user namespace needs linux.uidMappings and gidMappings");
        if ((config.get("hostname") != null || config.get("domainname") != null) && namespaces().stream().noneMatch(ns -> "uts".equals(ns.get("type"))))
            throw new StageFailure("config.json: hostname is set without a uts namespace: it would change the host's");
        if (!rootPath().toFile().isDirectory()) throw new StageFailure("config.json: root.path " + rootPath() + " is not a directory");
        // init and exec read /proc once the root is the container's (the start FIFO through
        // /proc/self/fd, the kernel's last capability, whether setgroups is allowed): without a
        // proc mount there, those would be the image's own files, made to say what it likes.
        if (mounts().stream().noneMatch(m -> "/proc".equals(m.get("destination")) && "proc".equals(m.get("type"))))
            throw new StageFailure("config.json mounts no proc at /proc: this runtime needs the container's own (it reads /proc/self there)");
    }
    // end::refused[]

    /** The same bundle with another process, exec's (the engine's process.json), checked as create checks config.json's. */
    Bundle withProcess(Map<String, Object> process) {
        Map<String, Object> config = new java.util.LinkedHashMap<>(this.config);
        config.put("process", process);
        Bundle bundle = new Bundle(dir, config);
        bundle.refuseWhatIsNotHonoured();
        return bundle;
    }

    /** Whether a field asks for anything: Docker writes "blockIO": {"weight": 0}, which asks for nothing (runc too skips a weight of 0). */
    static boolean setsSomething(Object value) {
        if (value instanceof Map<?, ?> map) return map.values().stream().anyMatch(Bundle::setsSomething);
        if (value instanceof List<?> list) return list.stream().anyMatch(Bundle::setsSomething);
        if (value instanceof Number number) return number.doubleValue() != 0;
        if (value instanceof String string) return !string.isEmpty();
        return Boolean.TRUE.equals(value);
    }

    static final List<String> NAMESPACES = List.of("pid", "network", "mount", "ipc", "uts", "user", "cgroup");

    // What create and init read, each with the spec's default where it has one.
    Map<String, Object> process() { return objectOrNull(config.get("process")); }
    Map<String, Object> linux() { return object(config.get("linux")); }
    List<String> args() { return strings(process().get("args")); }
    List<String> env() { return strings(process().get("env")); }
    String cwd() { return process().get("cwd") instanceof String s ? s : "/"; }
    Map<String, Object> user() { return object(process().get("user")); }
    Map<String, Object> capabilities() { return objectOrNull(process().get("capabilities")); }
    List<Map<String, Object>> rlimits() { return objects(process().get("rlimits")); }
    boolean noNewPrivileges() { return Boolean.TRUE.equals(process().get("noNewPrivileges")); }
    boolean terminal() { return Boolean.TRUE.equals(process().get("terminal")); }
    Map<String, Object> consoleSize() { return objectOrNull(process().get("consoleSize")); }

    /** runc's rule: a terminal goes to an engine's --console-socket, and a socket is given only for a terminal. */
    void checkConsole(Path consoleSocket) {
        if (terminal() && consoleSocket == null)
            throw new StageFailure("process.terminal is true: give --console-socket, where the engine takes the terminal (this runtime relays none itself)");
        if (!terminal() && consoleSocket != null)
            throw new StageFailure("--console-socket is given, and process.terminal is not true: there is no terminal to send");
        if (terminal() && mounts().stream().noneMatch(m -> "/dev/pts".equals(m.get("destination")) && "devpts".equals(m.get("type"))))
            throw new StageFailure("process.terminal is true, and config.json mounts no devpts at /dev/pts: the terminal is made there");
    }
    Long oomScoreAdj() { return (Long) process().get("oomScoreAdj"); }

    Path rootPath() {
        Map<String, Object> root = object(config.get("root"));
        if (!(root.get("path") instanceof String path)) throw new StageFailure("config.json: root.path is missing");
        return dir.resolve(path).normalize();
    }
    boolean readonlyRoot() { return Boolean.TRUE.equals(object(config.get("root")).get("readonly")); }
    String hostname() { return (String) config.get("hostname"); }
    String domainname() { return (String) config.get("domainname"); }
    List<Map<String, Object>> mounts() { return objects(config.get("mounts")); }
    Map<String, Object> annotations() { return object(config.get("annotations")); }
    Map<String, Object> hooks() { return object(config.get("hooks")); }

    List<Map<String, Object>> namespaces() { return objects(linux().get("namespaces")); }
    boolean hasNewNamespace(String type) {
        return namespaces().stream().anyMatch(ns -> type.equals(ns.get("type")) && ns.get("path") == null);
    }
    List<Map<String, Object>> mappings(String field) { return objects(linux().get(field)); }
    String cgroupsPath() { return (String) linux().get("cgroupsPath"); }
    Map<String, Object> resources() { return object(linux().get("resources")); }
    Map<String, Object> sysctl() { return object(linux().get("sysctl")); }
    List<String> maskedPaths() { return strings(linux().get("maskedPaths")); }
    List<String> readonlyPaths() { return strings(linux().get("readonlyPaths")); }
    List<Map<String, Object>> devices() { return objects(linux().get("devices")); }
    Map<String, Object> seccomp() { return objectOrNull(linux().get("seccomp")); }
    String rootfsPropagation() { return (String) linux().get("rootfsPropagation"); }

    // JSON's shapes, with an absent field read as empty.
    @SuppressWarnings("unchecked")
    static Map<String, Object> object(Object value) {
        return value instanceof Map<?, ?> m ? (Map<String, Object>) m : Map.of();
    }
    static Map<String, Object> objectOrNull(Object value) {
        return value == null ? null : object(value);
    }
    @SuppressWarnings("unchecked")
    static List<Map<String, Object>> objects(Object value) {
        return value instanceof List<?> l ? (List<Map<String, Object>>) l : List.of();
    }
    static List<String> strings(Object value) {
        List<String> out = new ArrayList<>();
        if (value instanceof List<?> l) for (Object o : l) out.add((String) o);
        return out;
    }
    static long number(Map<String, Object> object, String field, long otherwise) {
        return object.get(field) instanceof Number n ? n.longValue() : otherwise;
    }
}
// end::bundle[]
