package workbook;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import java.lang.reflect.Method;
import java.util.Arrays;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Tests that make the stages' real system calls: they need root, and skip (with this reason)
 * elsewhere, but for the methods marked {@link AlsoAsLearner}.
 */
@Target({ElementType.TYPE, ElementType.METHOD})
@Retention(RetentionPolicy.RUNTIME)
@Tag("root")
@ExtendWith(RootOnly.Condition.class)
public @interface RootOnly {
    /** Root runs everything; an ordinary user, a class's methods marked {@link AlsoAsLearner} (and the class, to reach them). */
    final class Condition implements ExecutionCondition {
        @Override
        public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
            if (Host.isRoot()) return ConditionEvaluationResult.enabled("root");
            boolean learner = context.getTestMethod().map(m -> m.isAnnotationPresent(AlsoAsLearner.class))
                    .orElseGet(() -> context.getTestClass().stream().flatMap(c -> Arrays.stream(c.getDeclaredMethods()))
                            .anyMatch((Method m) -> m.isAnnotationPresent(AlsoAsLearner.class)));
            return learner ? ConditionEvaluationResult.enabled("runs as the learner")
                    : ConditionEvaluationResult.disabled("needs root: run it with sudo");
        }
    }
}
