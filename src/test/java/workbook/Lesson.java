package workbook;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * The lesson of a stage (a {@code // lesson::NAME[]} method in its sources) that a test proves.
 * The grader, scripts/check, runs such a test against a copy of the learner's stage in which
 * every *other* lesson is the reference's, so each lesson is graded on its own; the test's
 * {@code @DisplayName} is the requirement's line on the scoreboard.
 */
@Target(ElementType.METHOD)
@Retention(RetentionPolicy.RUNTIME)
@ExtendWith(Lesson.Routing.class)
public @interface Lesson {
    String value();

    /**
     * The lesson proved instead where the cpu controller is on cgroup v2: a limit enforced by
     * the kernel comes from whichever version's files the stage wrote on this machine.
     */
    String onCgroupV2() default "";

    /** Tells {@link Stage} which lesson the running test proves, so that it runs that lesson's copy. */
    final class Routing implements BeforeEachCallback, AfterEachCallback {
        /** The lesson a test proves on this machine. */
        static String lessonOf(java.lang.reflect.Method test) {
            Lesson lesson = test.getAnnotation(Lesson.class);
            return !lesson.onCgroupV2().isEmpty() && Host.cpuControllerOnV2() ? lesson.onCgroupV2() : lesson.value();
        }

        @Override
        public void beforeEach(ExtensionContext context) {
            Stage.lesson = lessonOf(context.getRequiredTestMethod());
        }

        @Override
        public void afterEach(ExtensionContext context) {
            Stage.lesson = null;
        }
    }
}
