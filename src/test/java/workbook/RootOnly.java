package workbook;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.condition.EnabledIf;

/** Tests that make the stages' real system calls: they need root, and skip (with this reason) elsewhere. */
@Target({ElementType.TYPE, ElementType.METHOD})
@Retention(RetentionPolicy.RUNTIME)
@Tag("root")
@EnabledIf(value = "workbook.Host#isRoot", disabledReason = "needs root: run the tests with sudo scripts/test")
public @interface RootOnly {
}
