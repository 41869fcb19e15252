package container;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;

import static container.Bundle.*;
import static container.LibC.*;
import static container.Narration.*;

// tag::state[]
/**
 * What the runtime remembers of a container between its commands: each command (create, start,
 * state, kill, delete) is a new process, so the container's record is a directory under the
 * runtime's root (--root), named by its ID: state.json, and the FIFO that holds init back
 * between create and start. The status is never stored, always worked out: "created" while init
 * waits at the FIFO, "running" once it has gone on, "stopped" when its PID has no process, or
 * a process that started at another time (the PID was reused).
 */
final class RuntimeState {
    static final String OCI_VERSION = "1.0.2";

    final Path dir;
    final Map<String, Object> saved;

    private RuntimeState(Path dir, Map<String, Object> saved) {
        this.dir = dir;
        this.saved = saved;
    }

    /** --root's default: root's under /run, an ordinary user's under XDG_RUNTIME_DIR (or /tmp). */
    static Path defaultRoot() {
        if (LIBC.geteuid() == 0) return Path.of("/run/workbook-runtime");
        String runtimeDir = System.getenv("XDG_RUNTIME_DIR");
        return runtimeDir != null && !runtimeDir.isEmpty() ? Path.of(runtimeDir, "workbook-runtime") : Path.of("/tmp/workbook-runtime-" + LIBC.geteuid());
    }

    /** runc's rule for IDs: letters, digits and _ + - . only, so an ID is always one safe directory name. */
    static void checkId(String id) {
        if (!id.matches("[A-Za-z0-9_+\\-.]{1,1024}") || id.equals(".") || id.equals(".."))
            throw new StageFailure("invalid container ID " + Json.quote(id) + ": letters, digits, _ + - . only");
    }

    static RuntimeState load(Path root, String id) {
        checkId(id);
        Path dir = root.resolve(id);
        try {
            return new RuntimeState(dir, Json.object(Json.parse(Files.readString(dir.resolve("state.json"))), "state.json"));
        } catch (IOException | IllegalArgumentException e) {
            throw new StageFailure("container " + id + " does not exist (under " + root + ")");
        }
    }

    /** Written whole to a temporary file, then renamed over the old one: a reader never sees half of it. */
    static RuntimeState save(Path dir, Map<String, Object> state) {
        try {
            Path tmp = dir.resolve("state.json.tmp");
            Files.writeString(tmp, Json.write(state));
            Files.move(tmp, dir.resolve("state.json"), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new StageFailure("cannot write " + dir.resolve("state.json") + ": " + e.getMessage());
        }
        return new RuntimeState(dir, state);
    }

    String id() { return (String) saved.get("id"); }
    int pid() { return (int) number(saved, "pid", 0); }
    Path fifo() { return dir.resolve("exec.fifo"); }
    List<Path> groups() { return strings(saved.get("cgroups")).stream().map(Path::of).toList(); }
    List<Path> madeGroups() { return strings(saved.get("madeCgroups")).stream().map(Path::of).toList(); }

    String status() {
        if ("creating".equals(saved.get("status"))) return "creating";
        if (!alive(pid(), (String) saved.get("startTime"))) return "stopped";
        return Files.exists(fifo()) ? "created" : "running";
    }

    /** The runtime spec's state: what `state ID` prints, and what hooks would read on stdin. */
    Map<String, Object> spec() {
        String status = status();
        return Json.of("ociVersion", OCI_VERSION, "id", id(), "status", status, "pid", status.equals("stopped") ? 0L : (long) pid(),
                "bundle", saved.get("bundle"), "rootfs", saved.get("rootfs"), "created", saved.get("created"),
                "annotations", saved.get("annotations"));
    }

    /** Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot. It tells a reused PID apart. */
    static String startTime(int pid) {
        try {
            String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            String[] after = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return after[0].equals("Z") ? null : after[19]; // a zombie has ended: only its parent's wait is missing
        } catch (IOException | RuntimeException gone) {
            return null;
        }
    }

    static boolean alive(int pid, String startTime) {
        return pid > 0 && startTime != null && startTime.equals(startTime(pid));
    }
}
// end::state[]
