package workbook;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.*;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Takes a census of what stages and the benchmark can leave on a machine (mounts, cgroups,
 * network namespaces, links, the workbook's files in /tmp, the container runtimes' state, stage
 * processes) before each test, and fails the test if
 * the census differs after it. Register it with {@code @ExtendWith(NothingLeftBehind.class)}.
 *
 * <p>In CI nothing else runs, and the census is of the whole machine: a leak under a name
 * nobody expected is caught too. The grader (scripts/check sets workbook.census=own) runs on a
 * learner's machine, beside their other terminals: there it counts only what this JVM's own
 * processes made, found by the PIDs in its names (a cgroup workbook/NN-name-PID, a record
 * NN-name.PID, a link wb-PID, a jail workbook-jail-PID), and what no one else could have made
 * (mounts in a workbook, the bridge) only while no other stage runs; what others remove is
 * not the lesson's fault.
 */
public final class NothingLeftBehind implements BeforeEachCallback, AfterEachCallback {
    private static final ExtensionContext.Namespace STORE = ExtensionContext.Namespace.create(NothingLeftBehind.class);
    static final boolean OWN_ONLY = "own".equals(System.getProperty("workbook.census"));

    @Override
    public void beforeEach(ExtensionContext context) {
        if (OWN_ONLY) Ours.watch();
        context.getStore(STORE).put("before", census());
    }

    @Override
    public void afterEach(ExtensionContext context) {
        @SuppressWarnings("unchecked")
        Map<String, Set<String>> before = context.getStore(STORE).get("before", Map.class);
        // A killed stage's processes may take a moment to be reaped.
        Map<String, Set<String>> after = census();
        for (int i = 0; i < 40 && !same(before, after); i++) {
            Host.pause(100);
            after = census();
        }
        for (String kind : before.keySet()) {
            Set<String> added = new TreeSet<>(after.get(kind));
            added.removeAll(before.get(kind));
            Set<String> removed = new TreeSet<>(before.get(kind));
            removed.removeAll(after.get(kind));
            if (OWN_ONLY) added.removeIf(item -> !Ours.made(kind, item));
            assertEquals(Set.of(), added, kind + " left behind");
            if (!OWN_ONLY) assertEquals(Set.of(), removed, kind + " removed that the test did not make");
        }
    }

    /** Nothing added (that counts), and in CI nothing removed either. */
    private static boolean same(Map<String, Set<String>> before, Map<String, Set<String>> after) {
        if (!OWN_ONLY) return after.equals(before);
        for (String kind : before.keySet())
            if (after.get(kind).stream().anyMatch(item -> !before.get(kind).contains(item) && Ours.made(kind, item))) return false;
        return true;
    }

    /**
     * What this JVM's processes made, when grading: every process it started and all that they
     * started, seen by a watcher every 50 ms while a test runs (a container's init may be gone by
     * the end, its link wb-PID not).
     */
    static final class Ours {
        static final Set<Long> PIDS = java.util.concurrent.ConcurrentHashMap.newKeySet();
        private static Thread watcher;

        static synchronized void watch() {
            PIDS.add(ProcessHandle.current().pid());
            if (watcher != null) return;
            watcher = new Thread(() -> {
                while (true) {
                    ProcessHandle.current().descendants().forEach(p -> PIDS.add(p.pid()));
                    Host.pause(50);
                }
            }, "census-of-our-processes");
            watcher.setDaemon(true);
            watcher.start();
        }

        static void started(long pid) {
            PIDS.add(pid);
        }

        static boolean made(String kind, String item) {
            return switch (kind) {
                // each named with the PID of the stage's parent or of the container's init
                case "cgroups", "records of runs in /run/workbook", "workbook files in /tmp", "network namespaces" ->
                        numbers(item).anyMatch(PIDS::contains);
                // the bridge is every container's of this network namespace
                case "links" -> item.equals("wb0") ? noOtherStageRuns() : numbers(item).anyMatch(PIDS::contains);
                case "stage processes" -> PIDS.contains(numbers(item).findFirst().orElse(-1L));
                // no PID in their names: counted only where no other stage could have made them
                case "mounts" -> item.contains("/workbook-") || item.contains(Stage.WORKBOOK.toString()) ? noOtherStageRuns() : false;
                default -> false; // the container runtimes' state, a top-level cgroup of another program's
            };
        }

        private static Stream<Long> numbers(String item) {
            return java.util.regex.Pattern.compile("\\d{2,}").matcher(item).results().map(m -> Long.parseLong(m.group()));
        }

        /** A stage's JVM that none of ours started: a learner's other terminal. */
        static boolean noOtherStageRuns() {
            return ProcessHandle.allProcesses().filter(p -> !PIDS.contains(p.pid()))
                    .noneMatch(p -> p.info().commandLine().orElse("").matches(".*(stages/\\d\\d-|/jars/Main\\.java\\.).*"));
        }
    }

    /** Everything a stage might create, by kind. */
    public static Map<String, Set<String>> census() {
        Map<String, Set<String>> census = new LinkedHashMap<>();
        census.put("mounts", Host.mountinfo().stream()
                .map(line -> line.split(" ")).map(f -> f[4] + " " + f[3]).collect(Collectors.toSet()));
        census.put("workbook files in /tmp", listNames(Path.of("/tmp"), "workbook-").stream()
                .filter(name -> !name.startsWith("workbook-test-user-")).collect(Collectors.toSet()));
        census.put("records of runs in /run/workbook", listNames(Path.of("/run/workbook"), ""));
        census.put("cgroups", cgroups());
        census.put("state of podman and runc", Stream.of("/var/lib/containers", "/run/libpod", "/run/runc")
                .filter(path -> Files.exists(Path.of(path))).collect(Collectors.toSet()));
        census.put("network namespaces", Set.copyOf(Host.run("ip", "netns", "list").outLines()));
        census.put("links", Host.run("ip", "-o", "link", "show").outLines().stream()
                .map(l -> l.split(": ")[1].replaceAll("@.*", "")).collect(Collectors.toSet()));
        census.put("stage processes", stageProcesses());
        return census;
    }

    private static Set<String> listNames(Path dir, String prefix) {
        try (Stream<Path> entries = Files.list(dir)) {
            return entries.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(prefix)).collect(Collectors.toSet());
        } catch (IOException e) {
            return Set.of();
        }
    }

    /**
     * Any cgroup directory whose name says it belongs to the workbook, and every top-level group
     * of every hierarchy, whoever made it (a container runtime's parent group, say).
     */
    private static Set<String> cgroups() {
        Set<String> groups = new HashSet<>();
        try (Stream<Path> dirs = Files.walk(Path.of("/sys/fs/cgroup"), 3)) {
            dirs.filter(Files::isDirectory).filter(p -> p.getFileName().toString().startsWith("workbook"))
                    .forEach(p -> groups.add(p.toString()));
        } catch (IOException | UncheckedIOException e) {
            return Set.of();
        }
        for (String hierarchy : cgroupMounts()) groups.addAll(listNames(Path.of(hierarchy), "").stream()
                .map(name -> hierarchy + "/" + name).filter(path -> Files.isDirectory(Path.of(path))).toList());
        return groups;
    }

    /** Where each cgroup hierarchy is mounted (cgroup v1: one per controller; v2: one). */
    private static List<String> cgroupMounts() {
        // mountinfo: ID PARENT MAJ:MIN ROOT MOUNT-POINT OPTIONS... - TYPE SOURCE SUPER-OPTIONS
        return Host.mountinfo().stream().filter(line -> line.split(" - ")[1].matches("cgroup2? .*"))
                .map(line -> line.split(" ")[4]).toList();
    }

    /** Processes the tests started that are still alive, and (in CI) any stage JVM, wherever it came from. */
    private static Set<String> stageProcesses() {
        long self = ProcessHandle.current().pid();
        Stream<ProcessHandle> ours = ProcessHandle.current().descendants();
        Stream<ProcessHandle> stages = OWN_ONLY ? Stream.empty() : ProcessHandle.allProcesses().filter(p -> p.pid() != self)
                .filter(p -> p.info().commandLine().orElse("").matches(".*(stages/\\d\\d-|/jars/Main\\.java\\.).*"));
        return Stream.concat(ours, stages).filter(ProcessHandle::isAlive)
                .map(p -> p.pid() + " " + p.info().commandLine().orElse("?")).collect(Collectors.toSet());
    }
}
