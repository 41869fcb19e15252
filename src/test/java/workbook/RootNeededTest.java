package workbook;

import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;

import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import static workbook.Failures.assertStageFailed;

/** Stages 01 to 05 need root: run by an ordinary user, each says to use sudo, in one line, with status 125. */
@RootOnly
@ExtendWith(NothingLeftBehind.class)
class RootNeededTest {
    static Stream<Arguments> stagesThatNeedRoot() {
        return Stream.of(
                Arguments.of("01-chroot", List.of("--", "/bin/bash", "-c", "exit 0")),
                Arguments.of("02-uts-pid", List.of("--", "/bin/true")),
                Arguments.of("03-mount-bind", List.of("--", "/bin/true")),
                Arguments.of("04-cgroup-cpu", List.of("--cpus", "0.5", "--", "/bin/true")),
                Arguments.of("05-veth-bridge", List.of("--", "/bin/true")));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("stagesThatNeedRoot")
    void anOrdinaryUserIsToldToUseSudo(String stage, List<String> args) {
        Stage.Result r = Stage.of(stage).as(TestUser.LEARNER).limit(Duration.ofMinutes(3)).run(args.toArray(String[]::new));
        assertStageFailed(r, stage, "run it with sudo");
    }
}
