package container;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

import jnr.ffi.Runtime;

import static container.KernelFiles.*;
import static container.LibC.*;
import static container.Narration.*;
import static container.Parent.*;

/** The user namespace: whether this kernel allows one, who creates it (not the JVM), and who init becomes in it. */
final class UserNamespace {

    // tag::userns-allowed[]
    /** The kernel, and some distributions, can forbid unprivileged user namespaces: say which setting, and the fix. */
    static void requireUserNamespaces(boolean rootless) {
        if (sysctl("user/max_user_namespaces").equals("0"))
            throw new StageFailure("user namespaces are disabled: user.max_user_namespaces is 0 (sudo sysctl -w user.max_user_namespaces=15000)");
        if (!rootless) return;
        if (sysctl("kernel/unprivileged_userns_clone").equals("0"))
            throw new StageFailure("only root may create user namespaces here: kernel.unprivileged_userns_clone is 0 (sudo sysctl -w kernel.unprivileged_userns_clone=1)");
        if (sysctl("kernel/apparmor_restrict_unprivileged_userns").equals("1"))
            throw new StageFailure("AppArmor restricts unprivileged user namespaces: kernel.apparmor_restrict_unprivileged_userns is 1"
                    + " (sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or an AppArmor profile that allows userns for unshare)");
    }

    /**
     * In one read(2): the kernel answers a read of a number in /proc/sys that does not start at
     * offset 0 with end-of-file, and Files.readString would read "15000" as "1" then stop.
     */
    static String sysctl(String name) {
        Path file = Path.of("/proc/sys", name);
        if (!Files.exists(file)) return "";
        try (var in = Files.newBufferedReader(file)) {
            return in.readLine().trim();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
    // end::userns-allowed[]

    // tag::einval[]
    /**
     * The earlier stages call unshare(2) from a thread of the JVM. For a user namespace the
     * kernel refuses that with EINVAL: each thread has credentials of its own, but all threads
     * of a process must be in the same user namespace, so a process with more than one thread
     * may not change it. The caller must not share its root and working directory with another
     * process either; CLONE_NEWUSER implies CLONE_FS, which gives it a copy of its own. A JVM
     * always has a dozen threads. Tried here anyway, on a thread of its own, to see it.
     */
    static void showThatTheJvmCannotCreateAUserNamespace() throws InterruptedException {
        Thread attempt = new Thread(() -> {
            int result = LIBC.unshare(CLONE_NEWUSER);
            int errno = Runtime.getRuntime(LIBC).getLastError();
            narrate("unshare(CLONE_NEWUSER) = " + (result == 0 ? "0" : "-1 " + describe(errno))
                    + ": the JVM has more than one thread, as it always has");
        }, "try-userns");
        attempt.start();
        attempt.join();
    }
    // end::einval[]

    static final List<String> UNSHARE = List.of("setpriv", "--pdeathsig", "KILL", "--",
            "unshare", "--user", "--uts", "--ipc", "--mount", "--net", "--pid", "--keep-caps",
            "--propagation", "unchanged", "--", // init makes the mounts private itself
            // Init runs in a subshell, so as the shell's child, not exec'd. The shell's own report
            // when init dies of SIGKILL ("Killed") goes to /dev/null; init keeps the real stderr,
            // saved as fd 9 (3 and 4 are init's pipes). The parentheses matter: for a plain
            // command, dash applies its redirections in itself while it waits, and reports there.
            "/bin/sh", "-c", "exec 9>&2 2>/dev/null; (\"$@\" 2>&9 9>&-); exit $?", "init");

    static List<String> unshareCommand() {
        List<String> command = new ArrayList<>(UNSHARE);
        command.addAll(initCommand());
        return command;
    }

    /** The shell's child: init. (If the shell ends first, unshare has said why.) */
    static int childOf(int shell, CompletableFuture<Integer> exit) {
        Path children = Path.of("/proc/" + shell + "/task/" + shell + "/children");
        while (!exit.isDone()) {
            String text = Files.exists(children) ? read(children).trim() : "";
            if (!text.isEmpty()) return Integer.parseInt(text.split(" ")[0]);
            sleep(5);
        }
        throw new StageFailure("unshare could not create the namespaces (its message is above)");
    }

    // tag::switch-user[]
    /**
     * Writing the maps does not change who init is: the kernel still knows it by its uid on the
     * host, which the map may not even name (root's, under --uid-map 0:100000:65536). So init
     * asks to be uid 0 and gid 0 of its namespace, that is 100000 outside; with the default map
     * it already is. Groups go first: after setresuid to a user other than root it could not
     * change them. setgroups(2) is allowed only where the parent did not deny it. A change of
     * uid also disarms the parent-death signal (prctl(2)), so it is armed again. And the
     * capabilities unshare --keep-caps put in the ambient set, to carry them through init's
     * exec, are dropped: root of the namespace has them all anyway, and the command's own
     * children should not inherit them.
     */
    static void switchUser(long uid, long gid) {
        check("setresgid(" + gid + ", " + gid + ", " + gid + ")", () -> LIBC.setresgid(gid, gid, gid), "");
        if (read(Path.of("/proc/self/setgroups")).trim().equals("allow"))
            check("setgroups(0, NULL)", () -> LIBC.setgroups(0, null), "");
        check("setresuid(" + uid + ", " + uid + ", " + uid + ")", () -> LIBC.setresuid(uid, uid, uid), "");
        check("prctl(PR_SET_PDEATHSIG, SIGKILL)", () -> LIBC.prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0), "");
        check("prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)", () -> LIBC.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "");
    }
    // end::switch-user[]

    // tag::loopback[]
    /**
     * The new network namespace has only lo, and it is down. A rootless parent cannot bring it
     * up: it has no capability over this namespace's network from outside. Init, root in here,
     * can: with the ioctl(2) that `ip link set lo up` makes, on a struct ifreq (a 16-byte name,
     * then the flags).
     */
    static void bringLoopbackUp() {
        int socket = check("socket(AF_INET, SOCK_DGRAM, 0)", () -> LIBC.socket(AF_INET, SOCK_DGRAM, 0), "");
        byte[] ifreq = new byte[40];
        System.arraycopy("lo".getBytes(), 0, ifreq, 0, 2);
        check("ioctl(" + socket + ", SIOCGIFFLAGS, {\"lo\"})", () -> LIBC.ioctl(socket, SIOCGIFFLAGS, ifreq), "");
        ifreq[16] |= IFF_UP; // the low byte of the short ifr_flags, on a little-endian machine
        check("ioctl(" + socket + ", SIOCSIFFLAGS, {\"lo\", IFF_UP})", () -> LIBC.ioctl(socket, SIOCSIFFLAGS, ifreq), "");
        LIBC.close(socket);
    }
    // end::loopback[]
}
