package workbook;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * A test of a {@link RootOnly} class that runs without root too, because all it starts runs
 * as an ordinary user anyway (stages 06 to 08's rootless containers): run by root, the learner
 * is {@link TestUser#LEARNER}'s uid 1000; run by an ordinary user (scripts/check 06 without
 * sudo), the learner is that user. Everything else in the class still needs root.
 */
@Target(ElementType.METHOD)
@Retention(RetentionPolicy.RUNTIME)
public @interface AlsoAsLearner {
}
