package workbook;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import static org.junit.jupiter.params.provider.Arguments.arguments;
import static workbook.Failures.assertStageFailed;

/**
 * Every option of every stage, given values it must refuse: each is refused before anything is
 * created, in one line that names the option and what it takes, with exit status 125 and no
 * stack trace. The runs happen in a network namespace of the test's own (a value that slipped
 * through would otherwise reach stage 05's bridge on the real host).
 */
@RootOnly
@ExtendWith(NothingLeftBehind.class)
class BadOptionsTest {
    static final List<String> ALL = List.of("01-chroot", "02-uts-pid", "03-mount-bind", "04-cgroup-cpu", "05-veth-bridge", "06-user-ns", "07-caps-seccomp", "08-overlay-image", "09-oci-runtime");

    static Stream<Arguments> badValues() {
        List<Arguments> table = new ArrayList<>();
        for (String stage : ALL) {
            int n = Integer.parseInt(stage.substring(0, 2));
            bad(table, stage, "rootfs not found", "--rootfs", "/no/such/rootfs");
            bad(table, stage, "is the host's own root", "--rootfs", "/");
            bad(table, stage, "Unknown option: '--no-such-option'", "--no-such-option");
            bad(table, stage, "Unknown option: '--rootf': did you mean --rootfs?", "--rootf", "rootfs");
            if (n == 1) {
                bad(table, stage, "--jail needs a value, DIR", "--jail");
                bad(table, stage, "--copy needs a value, PROGRAM", "--copy");
            }
            if (n >= 2) {
                bad(table, stage, "--hostname must be 1 to 64 characters", "--hostname", "x".repeat(65));
                bad(table, stage, "--hostname a b: use letters, digits", "--hostname", "a b");
                bad(table, stage, "--hostname a?b: use letters, digits", "--hostname", "a\tb");
                bad(table, stage, "--hostname a/b: use letters, digits", "--hostname", "a/b");
                bad(table, stage, "--hostname needs a value, NAME", "--hostname", "--"); // `--hostname ''` once JBang dropped the ''
                bad(table, stage, "no process 0 on this host", "exec", "0");
                bad(table, stage, "process 1 is not", "exec", "1");
                bad(table, stage, "'abc' is not an int", "exec", "abc");
            }
            if (n >= 3) {
                bad(table, stage, "/bin/sh in the container is a symbolic link", "--volume", "/tmp:/bin/sh");
                bad(table, stage, "/etc/passwd in the container is a file, not a directory", "--volume", "/tmp:/etc/passwd");
                bad(table, stage, "the host's / would put the whole host inside", "--volume", "/:/data");
                bad(table, stage, "/proc in the container is its own proc", "--volume", "/tmp:/proc/data");
                bad(table, stage, "both directories must be absolute paths", "--volume", "/tmp:data");
                bad(table, stage, "expected HOST_DIR:CONTAINER_DIR", "--volume", "/tmp");
                bad(table, stage, "no such directory on the host", "--volume", "/no/such/dir:/data");
            }
            if (n >= 4) {
                for (String cpus : List.of("NaN", "Infinity", "1e400", "0", "-1"))
                    bad(table, stage, "--cpus must be between 0.01 and", "--cpus", cpus);
                bad(table, stage, "'half' is not a double", "--cpus", "half");
                for (String shares : List.of("1", "262145"))
                    bad(table, stage, "--cpu-shares must be between 2 and 262144", "--cpu-shares", shares);
                bad(table, stage, "'99999999999999999999' is not a long", "--cpu-shares", "99999999999999999999");
                for (String memory : List.of("99999999999999999999", "99999999999g"))
                    bad(table, stage, "--memory " + memory + ": too large", "--memory", memory);
                bad(table, stage, "--memory must be at least 6m", "--memory", "5m");
                bad(table, stage, "expected a size such as", "--memory", "12q");
                bad(table, stage, "--pids-limit must be at least 1", "--pids-limit", "0");
                bad(table, stage, "'99999999999999999999' is not a long", "--pids-limit", "99999999999999999999");
                bad(table, stage, "is not online here", "--cpuset-cpus", "0-4095");
                for (String cpus : List.of("1,x", ",", "99999", "3-1"))
                    bad(table, stage, "--cpuset-cpus", "--cpuset-cpus", cpus);
            }
            if (n >= 5)
                for (String ip : List.of("300.1.1.1/24", "10.213.0.5", "10.213.0.5/33", "10.213.0.0/24", "10.213.0.5/24/1"))
                    bad(table, stage, "expected a host address and a prefix length", "--ip", ip);
            if (n >= 6) {
                bad(table, stage, "IDs end at 4294967294", "--uid-map", "0:4294967295:1");
                bad(table, stage, "COUNT must be at least 1", "--gid-map", "0:100000:0");
                bad(table, stage, "expected CONTAINER:HOST:COUNT", "--uid-map", "0:1000");
                bad(table, stage, "expected UID or UID:GID", "--user", "nobody");
            }
            if (n >= 7) {
                bad(table, stage, "--cap-add NET_EVERYTHING: no such capability", "--cap-add", "NET_EVERYTHING");
                bad(table, stage, "--cap-drop CAP_: no such capability", "--cap-drop", "CAP_");
                bad(table, stage, "this stage takes only seccomp=unconfined", "--security-opt", "seccomp=default.json");
                bad(table, stage, "this stage takes only seccomp=unconfined", "--security-opt", "no-new-privileges");
            }
        }
        return table.stream();
    }

    static void bad(List<Arguments> table, String stage, String says, String... args) {
        table.add(arguments(stage, List.of(args), says));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("badValues")
    void aBadValueIsOneClearLineAndCreatesNothing(String stage, List<String> args, String says) {
        List<String> command = new ArrayList<>(args);
        if (!args.get(0).equals("exec")) command.addAll(List.of("--", "/bin/true"));
        try (NetworkLab lab = NetworkLab.create()) {
            assertStageFailed(lab.stage(Stage.of(stage)).run(command.toArray(String[]::new)), stage, says);
        }
    }
}
