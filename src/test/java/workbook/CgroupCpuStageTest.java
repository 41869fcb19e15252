package workbook;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.*;
import static workbook.Failures.assertStageFailed;

@RootOnly
@ExtendWith(NothingLeftBehind.class)
class CgroupCpuStageTest {
    static final Stage STAGE = Stage.of("04-cgroup-cpu");
    static final Duration START = Duration.ofSeconds(60);
    static final Duration MEASURE = Duration.ofSeconds(4);
    static final String ONE_BUSY_LOOP = "echo ready; while :; do :; done";
    static final String TWO_BUSY_LOOPS = "echo ready; (while :; do :; done) & while :; do :; done";

    static final Measured MEASURED = new Measured("04-cgroup-cpu", "experiment", "limits", "expected", "measured (CPUs, over " + MEASURE.toSeconds() + " s)");

    @TempDir
    Path tmp;

    @AfterAll
    static void writeWhatWasMeasured() {
        MEASURED.write();
    }

    @Test
    @Lesson(value = "v1-files", onCgroupV2 = "v2-files")
    @DisplayName("with --cpus 0.5, a busy loop gets half a CPU")
    void halfACpuIsHalfACpu() {
        assertHeldTo(0.5, cpuUse(ONE_BUSY_LOOP, "--cpus", "0.5"), "one busy loop");
    }

    @Test
    @Lesson(value = "v1-files", onCgroupV2 = "v2-files")
    @DisplayName("with --cpus 1.5, two busy loops get one and a half CPUs")
    void oneAndAHalfCpusForTwoBusyLoops() {
        assertHeldTo(1.5, cpuUse(TWO_BUSY_LOOPS, "--cpus", "1.5"), "two busy loops");
    }

    /**
     * What a CPU limit promises, proven so that a busy machine cannot fail it: the loops never
     * used more than the limit, the kernel's bandwidth control is what stopped them (the group
     * was throttled: its quota ran out within a period), and they still got most of it. How
     * much of the limit they get depends on what else runs (another test, a virtual machine
     * beside this one, the hypervisor's other guests); the ceiling does not.
     */
    static void assertHeldTo(double cpus, Use measured, String experiment) {
        MEASURED.add(experiment, "`--cpus " + cpus + "`", format(cpus), format(measured.cpus()));
        assertTrue(measured.cpus() <= cpus * 1.1, () -> "more than the limit of " + cpus + ": " + measured);
        assertTrue(measured.throttles() > 0, () -> "the group was never throttled, so the limit did not hold the loops: " + measured);
        assertTrue(measured.cpus() >= cpus * 0.6, () -> "far less than the limit of " + cpus + ": " + measured);
    }

    /** CPUs used over the measurement, and how many periods the kernel throttled the group in it. */
    record Use(double cpus, long throttles) {}

    @Test
    @Lesson(value = "v1-files", onCgroupV2 = "v2-files")
    @DisplayName("under contention, 512 and 1024 shares split the CPUs 1 : 2")
    void underContentionSharesSplitTheCpusOneToTwo() {
        try (Stage.Running low = STAGE.start("--cpu-shares", "512", "-q", "--", "/bin/sh", "-c", TWO_BUSY_LOOPS);
             Stage.Running high = STAGE.start("--cpu-shares", "1024", "-q", "--", "/bin/sh", "-c", TWO_BUSY_LOOPS)) {
            low.awaitOutput("ready", START);
            high.awaitOutput("ready", START);
            long lowInit = low.child(START), highInit = high.child(START);
            Host.pause(500);

            // Both measured over the same seconds, on different threads.
            var lowUse = java.util.concurrent.CompletableFuture.supplyAsync(() -> Host.cpuUse(lowInit, MEASURE));
            double highUse = Host.cpuUse(highInit, MEASURE);
            double ratio = highUse / lowUse.join();
            MEASURED.add("two containers, two busy loops each", "`--cpu-shares 512` and `--cpu-shares 1024`",
                    "1 : 2", format(lowUse.join()) + " : " + format(highUse) + " (1 : " + format(ratio) + ")");
            assertEquals(2.0, ratio, 0.4, () -> "1024 shares used " + highUse + " CPUs, 512 shares " + lowUse.join());
            assertEquals(128 + 9, low.end().exit());
            assertEquals(128 + 9, high.end().exit());
        }
    }

    @Test
    @Lesson(value = "v1-files", onCgroupV2 = "v2-files")
    @DisplayName("the OOM killer ends a command that allocates past --memory")
    void theOomKillerEndsACommandThatAllocatesPastTheMemoryLimit() {
        String allocate64m = "dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null";
        assertEquals(0, STAGE.run("-q", "--", "/bin/sh", "-c", allocate64m).exit(), "without a limit it works");
        Stage.Result r = STAGE.run("-q", "--memory", "16m", "--", "/bin/sh", "-c", allocate64m);
        assertEquals(128 + 9, r.exit(), r::toString); // SIGKILL, from the OOM killer
    }

    @Test
    @Lesson(value = "v1-files", onCgroupV2 = "v2-files")
    @DisplayName("--pids-limit stops a fork loop (EAGAIN)")
    void thePidsLimitStopsAForkLoop() {
        Stage.Result r = STAGE.run("-q", "--pids-limit", "8", "--", "/bin/sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 3 & done; wait");
        assertTrue(r.err().contains("Resource temporarily unavailable"), r::toString); // EAGAIN from fork
    }

    @Test
    @Lesson("join")
    @DisplayName("the container's processes are in its group in every hierarchy, as /proc/PID/cgroup shows")
    void theContainersProcessesAreInItsGroup() {
        try (Stage.Running running = STAGE.start("-q", "--cpus", "0.5", "--memory", "64m", "--pids-limit", "50", "--",
                "/bin/sh", "-c", "sleep 600 & echo ready; wait")) {
            running.awaitOutput("ready", START);
            long init = running.child(START);
            String group = "/workbook/04-cgroup-cpu-" + running.pid();

            for (long pid : List.of(init, Host.childOf(init))) {
                List<String> lines = Host.cgroupsOf(pid);
                for (String controller : List.of("cpu", "memory", "pids"))
                    assertEquals(group, Host.cgroupPath(lines, controller), () -> "process " + pid + ", " + controller + ":\n" + lines);
            }
        }
    }

    @Test
    @Lesson("v2-files")
    @DisplayName("on cgroup v2, every limit is written to the right file")
    void theV2PathWritesTheRightValuesToTheRightFiles() throws Exception {
        Path fs = Files.createDirectory(tmp.resolve("cgroup2"));
        Files.writeString(fs.resolve("cgroup.controllers"), "cpuset cpu io memory pids\n");

        Stage.Result r = STAGE.run("--cgroup-fs", fs.toString(), "--cpus", "1.5", "--cpu-shares", "512", "--memory", "64m",
                "--pids-limit", "50", "--", "/bin/true");

        assertEquals(0, r.exit(), r::toString);
        assertEquals("+cpu +memory +pids", Files.readString(fs.resolve("cgroup.subtree_control")));
        assertEquals("+cpu +memory +pids", Files.readString(fs.resolve("workbook/cgroup.subtree_control")));
        Path group = onlyDirectoryIn(fs.resolve("workbook"));
        assertTrue(group.getFileName().toString().startsWith("04-cgroup-cpu-"));
        assertEquals("150000 100000", Files.readString(group.resolve("cpu.max")));
        assertEquals("20", Files.readString(group.resolve("cpu.weight")), "512 shares, in runc's conversion");
        assertEquals(Long.toString(64 << 20), Files.readString(group.resolve("memory.max")));
        assertEquals("50", Files.readString(group.resolve("pids.max")));
        assertTrue(Files.readString(group.resolve("cgroup.procs")).matches("\\d+"), "init's PID was written");
    }

    @Test
    @Lesson("v2-files")
    @DisplayName("on cgroup v2, 1024 shares become runc's weight 39")
    void theDefaultSharesBecomeRuncsWeight() throws Exception {
        Path fs = Files.createDirectory(tmp.resolve("cgroup2"));
        Files.writeString(fs.resolve("cgroup.controllers"), "cpu\n");
        STAGE.run("-q", "--cgroup-fs", fs.toString(), "--cpu-shares", "1024", "--", "/bin/true");
        assertEquals("39", Files.readString(onlyDirectoryIn(fs.resolve("workbook")).resolve("cpu.weight")));
    }

    @Test
    void aMissingV2ControllerIsAClearError() throws Exception {
        Path fs = Files.createDirectory(tmp.resolve("cgroup2"));
        Files.writeString(fs.resolve("cgroup.controllers"), "cpu\n");
        assertStageFailed(STAGE.run("--cgroup-fs", fs.toString(), "--memory", "64m", "--", "/bin/true"), "04-cgroup-cpu", "has no memory controller");
    }

    @Test
    void badLimitsAreClearErrorsAndCreateNothing() {
        int cpus = java.lang.Runtime.getRuntime().availableProcessors();
        for (String bad : List.of("0", "-1", Integer.toString(cpus + 1)))
            assertStageFailed(STAGE.run("--cpus", bad, "--", "/bin/true"), "04-cgroup-cpu", "--cpus must be between 0.01 and " + cpus);
        assertStageFailed(STAGE.run("--cpus", "half", "--", "/bin/true"), "04-cgroup-cpu", "'half' is not a double");
        assertStageFailed(STAGE.run("--cpu-shares", "1", "--", "/bin/true"), "04-cgroup-cpu", "--cpu-shares must be between 2 and 262144");
        assertStageFailed(STAGE.run("--memory", "12q", "--", "/bin/true"), "04-cgroup-cpu", "expected a size");
        assertStageFailed(STAGE.run("--memory", "1m", "--", "/bin/true"), "04-cgroup-cpu", "--memory must be at least 6m");
        assertStageFailed(STAGE.run("--pids-limit", "0", "--", "/bin/true"), "04-cgroup-cpu", "--pids-limit must be at least 1");
    }

    /** Runs the busy command in a container with these limits and measures its CPU use from the host. */
    static Use cpuUse(String busyCommand, String... limits) {
        List<String> args = new java.util.ArrayList<>(List.of(limits));
        args.addAll(List.of("-q", "--", "/bin/sh", "-c", busyCommand));
        try (Stage.Running running = STAGE.start(args.toArray(String[]::new))) {
            running.awaitOutput("ready", START);
            long init = running.child(START);
            Host.pause(500);
            long throttledBefore = Host.cpuThrottles(init);
            double cpus = Host.cpuUse(init, MEASURE);
            Use use = new Use(cpus, Host.cpuThrottles(init) - throttledBefore);
            assertEquals(128 + 9, running.end().exit());
            return use;
        }
    }

    static String format(double cpus) {
        return String.format(java.util.Locale.ROOT, "%.2f", cpus);
    }

    static Path onlyDirectoryIn(Path dir) throws Exception {
        try (Stream<Path> entries = Files.list(dir)) {
            List<Path> dirs = entries.filter(Files::isDirectory).toList();
            assertEquals(1, dirs.size(), dirs::toString);
            return dirs.get(0);
        }
    }
}
