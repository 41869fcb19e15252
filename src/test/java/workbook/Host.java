package workbook;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/** What the host sees: the tests' independent view of what a stage did. */
public final class Host {
    private Host() {
    }

    public static boolean isRoot() {
        return new com.sun.security.auth.module.UnixSystem().getUid() == 0;
    }

    /** Runs a host command to its end (stdout and stderr kept apart). */
    public static Stage.Result run(String... command) {
        return run(Stage.WORKBOOK, Duration.ofSeconds(60), List.of(command));
    }

    public static Stage.Result run(Path dir, Duration limit, List<String> command) {
        try {
            Process p = new ProcessBuilder(command).directory(dir.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
            return new Stage.Running(p, false).finish(limit);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + command, e);
        }
    }

    /**
     * Runs a command in one of a process's namespaces (nsenter's option for it: -u, -m, ...).
     * An ordinary user may enter only through the process's user namespace, which is theirs.
     */
    public static Stage.Result inNamespaceOf(long pid, String option, String... command) {
        List<String> nsenter = new java.util.ArrayList<>(List.of("nsenter", "-t", Long.toString(pid)));
        if (!isRoot()) nsenter.addAll(List.of("-U", "--preserve-credentials"));
        nsenter.add(option);
        nsenter.addAll(List.of(command));
        return run(nsenter.toArray(String[]::new));
    }

    /** Which namespace of a kind a process is in, as the kernel names it: "uts:[4026531838]". */
    public static String namespace(Object pid, String kind) {
        try {
            return Files.readSymbolicLink(Path.of("/proc/" + pid + "/ns/" + kind)).toString();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The same, or "" if the process has gone. */
    public static String namespaceIfAlive(long pid, String kind) {
        try {
            return Files.readSymbolicLink(Path.of("/proc/" + pid + "/ns/" + kind)).toString();
        } catch (IOException gone) {
            return "";
        }
    }

    public static String hostname() {
        return run("hostname").out().strip();
    }

    /** Waits until a process is gone (and reaped); false if it is still there after the limit. */
    public static boolean awaitGone(long pid, Duration limit) {
        long end = System.nanoTime() + limit.toNanos();
        while (System.nanoTime() < end) {
            if (!Files.exists(Path.of("/proc/" + pid))) return true;
            pause(50);
        }
        return false;
    }

    /**
     * How many CPUs the processes of a PID namespace used over a period, from the kernel's
     * per-process accounting (/proc/PID/stat: utime and stime, in clock ticks).
     */
    public static double cpuUse(long memberPid, Duration period) {
        String pidNamespace = namespace(memberPid, "pid");
        long ticksBefore = cpuTicks(pidNamespace), start = System.nanoTime();
        pause(period.toMillis());
        long ticksAfter = cpuTicks(pidNamespace), end = System.nanoTime();
        return (ticksAfter - ticksBefore) / (double) CLOCK_TICKS / ((end - start) / 1e9);
    }

    private static final long CLOCK_TICKS = Long.parseLong(run("getconf", "CLK_TCK").out().strip());

    private static long cpuTicks(String pidNamespace) {
        long ticks = 0;
        try (var entries = Files.list(Path.of("/proc"))) {
            for (Path proc : entries.filter(p -> p.getFileName().toString().matches("\\d+")).toList()) {
                try {
                    if (!Files.readSymbolicLink(proc.resolve("ns/pid")).toString().equals(pidNamespace)) continue;
                    String stat = Files.readString(proc.resolve("stat"));
                    String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                    ticks += Long.parseLong(fields[11]) + Long.parseLong(fields[12]); // utime, stime
                } catch (IOException gone) {
                    // the process ended while we looked
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return ticks;
    }

    /** The first child of a process (waits a little for it to appear). */
    public static long childOf(long pid) {
        Path children = Path.of("/proc/" + pid + "/task/" + pid + "/children");
        for (int i = 0; i < 100; i++) {
            String text = Files.exists(children) ? read(children).strip() : "";
            if (!text.isEmpty()) return Long.parseLong(text.split(" ")[0]);
            pause(50);
        }
        throw new AssertionError("process " + pid + " has no child");
    }

    /** Whether the cpu controller is on cgroup v2 here (the course VM), as the stages decide it. */
    public static boolean cpuControllerOnV2() {
        Path controllers = Path.of("/sys/fs/cgroup/cgroup.controllers");
        return Files.exists(controllers) && List.of(read(controllers).strip().split("\\s+")).contains("cpu");
    }

    /** /proc/PID/cgroup: one line per hierarchy, "ID:CONTROLLERS:PATH" (v2's is "0::PATH"). */
    public static List<String> cgroupsOf(long pid) {
        return read(Path.of("/proc/" + pid + "/cgroup")).lines().toList();
    }

    /** The group a controller puts the process in: its v1 hierarchy's line, else the v2 line. */
    public static String cgroupPath(List<String> cgroupLines, String controller) {
        String v2 = null;
        for (String line : cgroupLines) {
            String[] fields = line.split(":", 3);
            if (List.of(fields[1].split(",")).contains(controller)) return fields[2];
            if (fields[0].equals("0") && fields[1].isEmpty()) v2 = fields[2];
        }
        return v2;
    }

    /**
     * The directory of the group a controller puts the process in: in the controller's own v1
     * hierarchy (/sys/fs/cgroup/cpu/...) if it has one, else in the v2 hierarchy.
     */
    public static Path cgroupDirectory(long pid, String controller) {
        List<String> lines = cgroupsOf(pid);
        boolean v1 = lines.stream().anyMatch(l -> List.of(l.split(":", 3)[1].split(",")).contains(controller));
        Path root = v1 ? Path.of("/sys/fs/cgroup", controller) : Path.of("/sys/fs/cgroup");
        return root.resolve(cgroupPath(lines, controller).substring(1));
    }

    /**
     * How many times the kernel's CPU bandwidth control has stopped the process's group for the
     * rest of a period, its quota spent (nr_throttled in the group's cpu.stat, v1 and v2 alike).
     */
    public static long cpuThrottles(long pid) {
        return read(cgroupDirectory(pid, "cpu").resolve("cpu.stat")).lines().filter(l -> l.startsWith("nr_throttled "))
                .mapToLong(l -> Long.parseLong(l.substring("nr_throttled ".length()).strip())).findFirst().orElseThrow();
    }

    /** The mount table as the kernel shows it to this process: one line per mount. */
    public static List<String> mountinfo() {
        return read(Path.of("/proc/self/mountinfo")).lines().toList();
    }

    public static String read(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static void pause(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
