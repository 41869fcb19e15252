package workbook;

import java.io.IOException;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.*;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Workshop mode, as an attendee meets it: scripts/exercise makes a skeleton that runs up to
 * its first TODO; scripts/check fails it on exactly the missing lessons, passes the reference,
 * scores a lesson as soon as it is written, and catches a wrong solution.
 */
@RootOnly
@ExtendWith(NothingLeftBehind.class)
class WorkshopTest {
    static final Duration CHECK_LIMIT = Duration.ofMinutes(15);

    @TempDir
    Path work;

    static Stream<String> stagesWithLessons() throws IOException {
        return StageFolderTest.stages().filter(s -> !lessons(s).isEmpty());
    }

    @ParameterizedTest
    @MethodSource("stagesWithLessons")
    void theSkeletonRunsUpToItsFirstTodo(String stage) throws IOException {
        Path copy = exercise(stage);

        Stage.Result r;
        try (NetworkLab lab = NetworkLab.create()) { // stages 05 and 06 set up a bridge before their first TODO
            List<String> firstRun = new ArrayList<>(List.of("jbang", copy.resolve("Main.java").toString()));
            // Stage 08's lessons are met on the way to an image: its build is the first run.
            // Stage 09's, on the way to a container from a bundle: its first run is the runtime's.
            if (stage.equals("08-overlay-image")) firstRun.addAll(List.of("build", "--store", work.resolve("store").toString(), "--tag", "busybox"));
            else if (stage.equals("09-oci-runtime")) firstRun.addAll(List.of("oci", "--debug", "--root", work.resolve("state").toString(),
                    "run", "--bundle", aBundle(copy).toString(), "skeleton"));
            else firstRun.addAll(List.of("--", "/bin/true"));
            r = lab.onHost(firstRun.toArray(String[]::new));
        }
        assertEquals(125, r.exit(), r::toString);
        String todo = lessons(stage).stream().filter(l -> r.err().contains(stage + ": lesson " + l + ": write ")).findFirst()
                .orElseThrow(() -> new AssertionError("no lesson's TODO stopped the skeleton:\n" + r));
        assertTrue(r.err().contains("] TODO(" + todo + "): "), () -> "the TODO is narrated:\n" + r);
        assertFalse(r.err().contains("Exception"), r::toString);
    }

    /** An OCI bundle for stage 09: a copy of the busybox root, and the config.json the copy's own spec writes. */
    Path aBundle(Path copy) {
        Path bundle = work.resolve("bundle");
        assertEquals(0, Host.run("mkdir", "-p", bundle.toString()).exit());
        assertEquals(0, Host.run("cp", "-a", Stage.ROOTFS.toString(), bundle.resolve("rootfs").toString()).exit());
        Stage.Result spec = Host.run("jbang", copy.resolve("Main.java").toString(), "oci", "spec", "--bundle", bundle.toString());
        assertEquals(0, spec.exit(), spec::toString);
        return bundle;
    }

    @ParameterizedTest
    @MethodSource("stagesWithLessons")
    void checkFailsTheSkeletonOnExactlyItsLessons(String stage) throws IOException {
        Scoreboard board = check(stage, exercise(stage));

        assertEquals(1, board.exit(), board::toString);
        for (String lesson : lessons(stage))
            assertEquals(requirements(stage, lesson).size(), board.failed(lesson), () -> lesson + ", every requirement failed:\n" + board);
        assertEquals(0, board.passed(), board::toString);
        assertTrue(board.text().contains("Still to do: " + String.join(", ", lessons(stage)) + "."), board::toString);
    }

    /** The book's "Your turn" shows this scoreboard: refresh it with -Dtranscripts.update=true. */
    @ParameterizedTest
    @MethodSource("stagesWithLessons")
    void checkPassesTheFinishedStageWithTheScoreboardTheBookShows(String stage) throws IOException {
        solution(stage);
        Stage.Result r = Host.run(Stage.WORKBOOK, CHECK_LIMIT, List.of("env", "WORKBOOK_WORK=" + work, "scripts/check", stage.substring(0, 2)));
        Scoreboard board = new Scoreboard(r.exit(), r.out() + r.err());

        assertEquals(0, board.exit(), board::toString);
        assertEquals(0, board.failedInAll(), board::toString);
        assertTrue(board.text().contains("every requirement met"), board::toString);
        Path shown = Stage.WORKBOOK.resolve("docs/scoreboards").resolve(stage + ".txt");
        String session = "$ sudo scripts/check " + stage.substring(0, 2) + "\n" + board.text();
        if (TranscriptTest.UPDATE) Files.writeString(shown, session);
        assertEquals(Files.readString(shown), session, shown + " is out of date");
    }

    /** Played end to end on stage 02; for every stage, the test below proves it follows. */
    @Test
    void aLessonWrittenScoresItsRequirementsAndNoOthers() {
        String stage = "02-uts-pid", first = lessons(stage).get(0);
        Path copy = exercise(stage);
        lessonsTool("restore", Stage.WORKBOOK.resolve("stages").resolve(stage).toString(), copy.toString(), first);

        Scoreboard board = check(stage, copy);
        assertEquals(1, board.exit(), board::toString);
        for (String lesson : lessons(stage)) {
            int expected = requirements(stage, lesson).size();
            if (lesson.equals(first)) assertEquals(expected, board.passed(lesson), () -> lesson + " passes:\n" + board);
            else assertEquals(expected, board.failed(lesson), () -> lesson + " still fails:\n" + board);
        }
    }

    /**
     * The grader grades each lesson on a hybrid: the learner's folder with every other lesson
     * put back from the reference. So a copy with one lesson written is graded on copies that
     * two checks above already graded: that lesson's hybrid is the reference itself (every
     * requirement passes, checkPassesTheFinishedStage...), and each other lesson's hybrid is the
     * skeleton's (every requirement fails, checkFailsTheSkeleton...). Shown here byte for byte on
     * the hybrids scripts/check makes, for every stage, at the cost of a copy rather than of a
     * third grading of the same code.
     */
    @ParameterizedTest
    @MethodSource("stagesWithLessons")
    void aLessonWrittenIsGradedOnTheFinishedStageAndOnTheSkeletonsHybrids(String stage) throws IOException {
        String first = lessons(stage).get(0);
        Path reference = Stage.WORKBOOK.resolve("stages").resolve(stage);
        Path skeleton = exercise(stage), written = work.resolve("written");
        assertEquals(0, Host.run("cp", "-a", skeleton.toString(), written.toString()).exit());
        lessonsTool("restore", reference.toString(), written.toString(), first);

        lessonsTool("hybrids", reference.toString(), written.toString(), work.resolve("hybrids-written").toString());
        lessonsTool("hybrids", reference.toString(), skeleton.toString(), work.resolve("hybrids-skeleton").toString());
        for (String lesson : lessons(stage)) {
            Path graded = work.resolve("hybrids-written").resolve(lesson);
            if (lesson.equals(first)) assertSameFiles(reference, graded);
            else {
                assertSameFiles(work.resolve("hybrids-skeleton").resolve(lesson), graded);
                assertNotEquals(0, Host.run("diff", "-rq", reference.toString(), graded.toString()).exit(), lesson + " is still to write");
            }
        }
    }

    static void assertSameFiles(Path expected, Path actual) {
        Stage.Result diff = Host.run("diff", "-r", expected.toString(), actual.toString());
        assertEquals(0, diff.exit(), () -> actual + " differs from " + expected + ":\n" + diff);
    }

    @Test
    void aContainerWithoutItsOwnPidNamespaceFailsTheNamespacesLesson() throws IOException {
        Path copy = solution("02-uts-pid");
        replace(copy.resolve("Parent.java"), "CLONE_NEWUTS | CLONE_NEWPID | ", "CLONE_NEWUTS | ");

        Scoreboard board = check("02-uts-pid", copy);
        assertEquals(1, board.exit(), board::toString);
        assertTrue(board.text().contains("\u2717 0/1  the command is PID 1"), board::toString);
        assertEquals(0, board.failed("hostname") + board.failed("proc") + board.failed("setns"), board::toString);
    }

    @Test
    void chrootInsteadOfPivotRootFailsThePivotRootLesson() throws IOException {
        Path copy = solution("03-mount-bind");
        replace(copy.resolve("Mounts.java"), """
                        check("pivot_root(\\".\\", \\".\\")", () -> LIBC.pivot_root(".", "."), PIVOT_ROOT_HINT);
                        check("umount2(\\".\\", MNT_DETACH)", () -> LIBC.umount2(".", MNT_DETACH), "");
                """, """
                        check("chroot(\\".\\")", () -> LIBC.chroot("."), "");
                """);

        Scoreboard board = check("03-mount-bind", copy);
        assertEquals(1, board.exit(), board::toString);
        assertTrue(board.text().contains("\u2717 0/1  stage 01's escape no longer reaches the host"), board::toString);
        assertEquals(0, board.failed("private") + board.failed("volume"), board::toString);
    }

    /**
     * An attendee always has a second terminal open. A correct stage scores full marks while,
     * beside the check, containers of another stage start, run and end, and another program
     * makes and removes cgroups, and files in /tmp and in /run/workbook: the grader counts only
     * what its own processes made.
     */
    @Test
    void aCorrectStageScoresFullMarksWhileTheMachineIsBusy() throws IOException, InterruptedException {
        Path copy = solution("02-uts-pid");
        Path stop = work.resolve("stop");
        String noise = """
                mkdir -p /run/workbook
                (while [ ! -e "$1" ]; do jbang stages/04-cgroup-cpu/Main.java -q --cpus 0.2 -- /bin/sleep 1; done) &
                i=0
                while [ ! -e "$1" ]; do
                  i=$((i + 1))
                  mkdir /sys/fs/cgroup/blkio/noise-$$-$i /sys/fs/cgroup/unified/noise-$$-$i 2>/dev/null
                  touch /tmp/workbook-noise-$$-$i /run/workbook/99-noise.$$.$i
                  sleep 0.3
                  rmdir /sys/fs/cgroup/blkio/noise-$$-$i /sys/fs/cgroup/unified/noise-$$-$i 2>/dev/null
                  rm -f /tmp/workbook-noise-$$-$i /run/workbook/99-noise.$$.$i
                done
                wait
                """;
        Process busy = new ProcessBuilder("bash", "-c", noise, "noise", stop.toString()).directory(Stage.WORKBOOK.toFile())
                .redirectErrorStream(true).redirectOutput(work.resolve("noise.log").toFile()).start();
        try {
            Host.pause(5000); // the other terminal's first container is up
            Scoreboard board = check("02-uts-pid", copy);
            assertEquals(0, board.exit(), board::toString);
            assertEquals(0, board.failedInAll(), board::toString);
        } finally {
            Files.writeString(stop, "");
            if (!busy.waitFor(2, java.util.concurrent.TimeUnit.MINUTES)) busy.descendants().forEach(ProcessHandle::destroyForcibly);
        }
    }

    /**
     * Stages 06 to 08 run as the learner, and so does their grader: without sudo, the
     * requirements that take root are listed as not graded and the rest are scored. Run by
     * uid 1000 from their own copy of the workbook (what scripts/setup prepared, times kept).
     */
    @ParameterizedTest
    @ValueSource(strings = {"06-user-ns", "07-caps-seccomp", "08-overlay-image"})
    void anOrdinaryUserGradesTheRootlessStagesWithoutSudo(String stage) throws IOException {
        if (graderIsStale()) check(stage, Stage.WORKBOOK.resolve("stages").resolve(stage)); // compiles the tests again, as root
        TestUser learner = TestUser.LEARNER;
        Path copy = learner.copyKeepingTimes("scripts", "pom.xml", "src/test", "target/grader", "stages/05-veth-bridge", "stages/" + stage);

        Stage.Result r = Host.run(copy, CHECK_LIMIT, learner.wrap(List.of("scripts/check", stage.substring(0, 2), "stages/" + stage)));
        Scoreboard board = new Scoreboard(r.exit(), r.out() + r.err());

        assertEquals(0, board.exit(), board::toString);
        assertEquals(0, board.failedInAll(), board::toString);
        int needRoot = (int) Arrays.stream(Grader.TESTS.get(stage).getDeclaredMethods())
                .filter(m -> m.isAnnotationPresent(Lesson.class) && !m.isAnnotationPresent(AlsoAsLearner.class)).count();
        assertEquals(needRoot, board.text().lines().filter(l -> l.startsWith("  - not graded  ")).count(), board::toString);
        assertTrue(board.text().contains("every requirement met."), board::toString);
        assertEquals(needRoot > 0, board.text().contains("needs root (sudo scripts/check " + stage.substring(0, 2)), board::toString);

        Stage.Result refused = Host.run(copy, Duration.ofMinutes(1), learner.wrap(List.of("scripts/check", "05")));
        assertEquals(2, refused.exit(), refused::toString);
        assertTrue(refused.err().contains("stage 05-veth-bridge runs as root") && refused.err().contains("run it with sudo"), refused::toString);
    }

    @Test
    void exerciseNeverOverwritesALearnersWork() throws IOException {
        Path copy = exercise("02-uts-pid");
        Files.writeString(copy.resolve("Parent.java"), "// mine\n", java.nio.file.StandardOpenOption.APPEND);

        Stage.Result again = Host.run(Stage.WORKBOOK, Duration.ofMinutes(1), List.of("env", "WORKBOOK_WORK=" + work, "scripts/exercise", "02"));
        assertEquals(2, again.exit(), again::toString);
        assertTrue(again.err().contains("--reset"), again::toString);
        assertTrue(Files.readString(copy.resolve("Parent.java")).endsWith("// mine\n"), "the learner's file is untouched");

        Stage.Result reset = Host.run(Stage.WORKBOOK, Duration.ofMinutes(1), List.of("env", "WORKBOOK_WORK=" + work, "scripts/exercise", "02", "--reset"));
        assertEquals(0, reset.exit(), reset::toString);
        try (Stream<Path> old = Files.list(work.resolve("old"))) {
            Path kept = old.findFirst().orElseThrow();
            assertTrue(Files.readString(kept.resolve("Parent.java")).endsWith("// mine\n"), "--reset keeps the old copy aside");
        }
        assertFalse(Files.readString(copy.resolve("Parent.java")).endsWith("// mine\n"), "a fresh copy");
    }

    // ---------------------------------------------------------------- helpers

    /** As scripts/check decides it: no prepared grader, or a test, the pom or Lessons.java newer than it. */
    static boolean graderIsStale() throws IOException {
        Path prepared = Stage.WORKBOOK.resolve("target/grader/prepared");
        if (!Files.exists(prepared)) return true;
        java.nio.file.attribute.FileTime made = Files.getLastModifiedTime(prepared);
        try (Stream<Path> tests = Files.walk(Stage.WORKBOOK.resolve("src/test"))) {
            return Stream.concat(tests, Stream.of(Stage.WORKBOOK.resolve("pom.xml"), Stage.WORKBOOK.resolve("scripts/Lessons.java")))
                    .anyMatch(f -> {
                        try {
                            return Files.getLastModifiedTime(f).compareTo(made) > 0;
                        } catch (IOException e) {
                            return true;
                        }
                    });
        }
    }

    Path exercise(String stage) {
        Stage.Result r = Host.run(Stage.WORKBOOK, Duration.ofMinutes(1), List.of("env", "WORKBOOK_WORK=" + work, "scripts/exercise", stage.substring(0, 2)));
        assertEquals(0, r.exit(), r::toString);
        return work.resolve(stage);
    }

    Path solution(String stage) {
        Stage.Result r = Host.run(Stage.WORKBOOK, Duration.ofMinutes(1), List.of("env", "WORKBOOK_WORK=" + work, "scripts/exercise", stage.substring(0, 2), "--solution"));
        assertEquals(0, r.exit(), r::toString);
        return work.resolve(stage);
    }

    static Scoreboard check(String stage, Path dir) {
        Stage.Result r = Host.run(Stage.WORKBOOK, CHECK_LIMIT, List.of("scripts/check", stage.substring(0, 2), dir.toString()));
        return new Scoreboard(r.exit(), r.out() + r.err());
    }

    /** The lessons of a stage, in the order a run meets them (asked of scripts/Lessons.java once a stage). */
    static List<String> lessons(String stage) {
        return LESSONS.computeIfAbsent(stage, s -> lessonsTool("list", Stage.WORKBOOK.resolve("stages").resolve(s).toString())
                .outLines().stream().map(l -> l.split("\t")[0]).toList());
    }

    private static final Map<String, List<String>> LESSONS = new java.util.concurrent.ConcurrentHashMap<>();

    /** As scripts/exercise and scripts/check run it: the grader's compiled copy while it is up to date. */
    static Stage.Result lessonsTool(String... args) {
        boolean compiled;
        try {
            compiled = !graderIsStale() && Files.isReadable(Stage.WORKBOOK.resolve("target/grader/lessons/Lessons.class"));
        } catch (IOException e) {
            compiled = false;
        }
        List<String> command = new ArrayList<>(compiled ? List.of("java", "-cp", "target/grader/lessons", "Lessons") : List.of("java", "scripts/Lessons.java"));
        command.addAll(List.of(args));
        Stage.Result r = Host.run(Stage.WORKBOOK, Duration.ofMinutes(1), command);
        assertEquals(0, r.exit(), r::toString);
        return r;
    }

    /** The tests that prove a lesson. */
    static List<Method> requirements(String stage, String lesson) {
        return Arrays.stream(Grader.TESTS.get(stage).getDeclaredMethods())
                .filter(m -> m.isAnnotationPresent(Lesson.class) && Lesson.Routing.lessonOf(m).equals(lesson)).toList();
    }

    static void replace(Path file, String from, String to) throws IOException {
        String text = Files.readString(file);
        assertTrue(text.contains(from), () -> file + " holds " + from);
        Files.writeString(file, text.replace(from, to));
    }

    /** What scripts/check printed: a block per lesson ("name: title (File.java)"), a line per requirement. */
    record Scoreboard(int exit, String text) {
        int passed(String lesson) {
            return (int) linesOf(lesson).filter(l -> l.startsWith("  \u2713")).count();
        }

        int failed(String lesson) {
            return (int) linesOf(lesson).filter(l -> l.startsWith("  \u2717")).count();
        }

        int passed() {
            return (int) text.lines().filter(l -> l.startsWith("  \u2713")).count();
        }

        int failedInAll() {
            return (int) text.lines().filter(l -> l.startsWith("  \u2717")).count();
        }

        Stream<String> linesOf(String lesson) {
            List<String> lines = text.lines().toList();
            int start = -1;
            for (int i = 0; i < lines.size(); i++) if (lines.get(i).startsWith(lesson + ": ")) start = i + 1;
            if (start < 0) throw new AssertionError("no lesson " + lesson + " on the scoreboard:\n" + text);
            int end = start;
            while (end < lines.size() && !lines.get(end).isEmpty()) end++;
            return lines.subList(start, end).stream();
        }

        @Override
        public String toString() {
            return "exit " + exit + "\n" + text;
        }
    }
}
