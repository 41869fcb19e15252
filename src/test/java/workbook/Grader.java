package workbook;

import java.io.IOException;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.*;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.engine.discovery.DiscoverySelectors;
import org.junit.platform.engine.support.descriptor.MethodSource;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;

/**
 * The grader's scoreboard: runs a stage's {@link Lesson} tests (the same ones CI runs) and
 * prints one line per requirement, grouped by lesson, with a point each, the reason for each
 * failure and the lesson's hint. scripts/check starts it, after making the copies it grades:
 *
 * <pre>
 *   java -cp TEST_CLASSPATH -Dworkbook.lessons=FILE -Dworkbook.stage.NN-name@LESSON=DIR ... workbook.Grader NN-name LABEL
 * </pre>
 *
 * FILE is what {@code java scripts/Lessons.java list} printed for the reference stage. Exit
 * status: 0 when every requirement passed, 1 otherwise.
 */
public final class Grader {
    /** Each stage's tests. */
    static final Map<String, Class<?>> TESTS = Map.of(
            "01-chroot", ChrootStageTest.class,
            "02-uts-pid", UtsPidStageTest.class,
            "03-mount-bind", MountBindStageTest.class,
            "04-cgroup-cpu", CgroupCpuStageTest.class,
            "05-veth-bridge", VethBridgeStageTest.class,
            "06-user-ns", UserNsStageTest.class,
            "07-caps-seccomp", CapsSeccompStageTest.class,
            "08-overlay-image", OverlayImageStageTest.class,
            "09-oci-runtime", OciRuntimeStageTest.class);

    record LessonInfo(String name, String file, String title, String trap) {
    }

    /** What became of a requirement; one skipped (it needs root, and the grader runs without) is not graded. */
    record Outcome(String lesson, String requirement, boolean passed, boolean skipped, String why) {
    }

    public static void main(String[] args) throws IOException {
        String stage = args[0], label = args.length > 1 ? args[1] : stage;
        Class<?> tests = TESTS.get(stage);
        List<LessonInfo> lessons = readLessons(Path.of(System.getProperty("workbook.lessons")));
        List<Outcome> outcomes = run(tests);
        System.exit(print(stage, label, lessons, outcomes) ? 0 : 1);
    }

    static List<LessonInfo> readLessons(Path file) throws IOException {
        return Files.readAllLines(file).stream().map(l -> l.split("\t", -1))
                .map(f -> new LessonInfo(f[0], f[1], f[2], f.length > 3 ? f[3] : "")).toList();
    }

    /** Runs the class's lesson tests, in the order they are declared, and keeps what became of each. */
    static List<Outcome> run(Class<?> tests) {
        List<Method> lessonTests = Arrays.stream(tests.getDeclaredMethods())
                .filter(m -> m.isAnnotationPresent(Lesson.class) && m.isAnnotationPresent(Test.class)).toList();
        LauncherDiscoveryRequest request = LauncherDiscoveryRequestBuilder.request()
                .selectors(lessonTests.stream().map(m -> DiscoverySelectors.selectMethod(tests, m)).toList()).build();
        List<Outcome> outcomes = Collections.synchronizedList(new ArrayList<>());
        Launcher launcher = LauncherFactory.create();
        launcher.execute(request, new TestExecutionListener() {
            @Override
            public void executionFinished(TestIdentifier id, TestExecutionResult result) {
                if (!(id.getSource().orElse(null) instanceof MethodSource source)) return;
                Method method = source.getJavaMethod();
                boolean passed = result.getStatus() == TestExecutionResult.Status.SUCCESSFUL;
                String why = result.getThrowable().map(Grader::reason).orElse("");
                outcomes.add(new Outcome(Lesson.Routing.lessonOf(method), requirement(id, method), passed, false, why));
            }

            @Override
            public void executionSkipped(TestIdentifier id, String reason) {
                if (id.getSource().orElse(null) instanceof MethodSource source)
                    outcomes.add(new Outcome(Lesson.Routing.lessonOf(source.getJavaMethod()),
                            requirement(id, source.getJavaMethod()), false, true, reason));
            }
        });
        return outcomes;
    }

    /** The test's display name, or its method name said in words. */
    static String requirement(TestIdentifier id, Method method) {
        String name = id.getDisplayName();
        if (!name.equals(method.getName() + "()")) return name;
        return method.getName().replaceAll("([A-Z0-9])", " $1").toLowerCase(Locale.ROOT);
    }

    static final Pattern STAGE_LINE = Pattern.compile("(?m)^\\d\\d-[a-z-]+: .*$");

    /** Why a test failed, in a line: the stage's own error line if it printed one, else the assertion's first line. */
    static String reason(Throwable t) {
        String message = Objects.requireNonNullElse(t.getMessage(), t.getClass().getSimpleName());
        Matcher stageLine = STAGE_LINE.matcher(message);
        String line = stageLine.find() ? stageLine.group() : message.strip().lines().findFirst().orElse("");
        return line.length() > 200 ? line.substring(0, 197) + "..." : line;
    }

    static boolean print(String stage, String label, List<LessonInfo> lessons, List<Outcome> outcomes) {
        System.out.println("Stage " + stage + ", graded from " + label);
        int points = 0, total = 0, skipped = 0;
        List<String> toDo = new ArrayList<>();
        for (LessonInfo lesson : lessons) {
            List<Outcome> mine = outcomes.stream().filter(o -> o.lesson().equals(lesson.name())).toList();
            System.out.println();
            System.out.println(lesson.name() + ": " + lesson.title() + " (" + lesson.file() + ")");
            for (Outcome o : mine) {
                if (o.skipped()) {
                    skipped++;
                    System.out.println("  - not graded  " + o.requirement() + " (" + o.why() + ")");
                    continue;
                }
                total++;
                if (o.passed()) points++;
                System.out.println("  " + (o.passed() ? "\u2713" : "\u2717") + " " + (o.passed() ? 1 : 0) + "/1  " + o.requirement());
                if (!o.passed()) System.out.println("         " + o.why());
            }
            if (mine.isEmpty()) System.out.println("  (no test proves this lesson)");
            if (mine.stream().anyMatch(o -> !o.passed() && !o.skipped())) {
                toDo.add(lesson.name());
                System.out.println("  hint: see the TODO above the lesson in " + lesson.file() + ". " + lesson.trap());
            }
        }
        System.out.println();
        System.out.println("Total: " + points + "/" + total + (toDo.isEmpty() ? ", every requirement met." : ". Still to do: " + String.join(", ", toDo) + ".")
                + (skipped == 0 ? "" : " Not graded: " + skipped + (skipped == 1 ? " requirement needs" : " requirements need")
                + " root (sudo scripts/check " + stage.substring(0, 2) + " grades " + (skipped == 1 ? "it" : "them") + " too)."));
        return toDo.isEmpty() && total > 0;
    }
}
