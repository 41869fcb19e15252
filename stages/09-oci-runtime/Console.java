package container;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;

import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;

import static container.LibC.*;
import static container.Narration.*;

// tag::console[]
/**
 * process.terminal: the container's process gets a terminal, as `podman run -it` and `docker
 * run -t` ask. A pseudo-terminal is a pair of ends: the process holds the "slave" end,
 * /dev/pts/N, as its stdin, stdout, stderr and controlling terminal; whoever holds the
 * "master" end reads what the process prints and types what it reads. The engine wants the
 * master (conmon, or containerd's shim, relays it to the user's own terminal) and says where
 * to send it: a Unix socket, --console-socket, over which the runtime passes the open
 * descriptor itself (SCM_RIGHTS), as runc does.
 *
 * The pair is made inside the container, once its root is switched: /dev/pts/ptmx is then the
 * container's own devpts instance, so the process's terminal is /dev/pts/0 of its own, and no
 * name of the host's. The socket's path is on the host, out of reach by then: create (or
 * exec) connects to it first and hands the connected socket down as descriptor 7.
 */
final class Console {
    static final int SOCKET_FD = 7;

    private Console() {
    }

    /** create's and exec's side: the engine's socket, connected while its path is in reach. */
    static int connect(Path socket) {
        byte[] path = socket.toString().getBytes(StandardCharsets.UTF_8);
        if (path.length > 107) throw new StageFailure("--console-socket " + socket + ": a Unix socket's path has at most 107 bytes");
        // struct sockaddr_un: the family (AF_UNIX, a 16-bit number in the host's byte order), then the path and its NUL
        byte[] address = new byte[2 + path.length + 1];
        address[0] = AF_UNIX;
        System.arraycopy(path, 0, address, 2, path.length);
        int fd = check("socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0)", () -> LIBC.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), "");
        if (LIBC.connect(fd, address, address.length) != 0) {
            int errno = Runtime.getRuntime(LIBC).getLastError();
            LIBC.close(fd);
            throw new StageFailure("--console-socket " + socket + ": connect(2) failed: " + describe(errno));
        }
        narrate("connect(" + fd + ", {AF_UNIX, \"" + socket + "\"}) = 0");
        return fd;
    }

    /**
     * A posix_spawn file action for the chain to init (or exec's process): the socket as
     * descriptor 7, and /dev/null as 0, 1 and 2, as runc's init has them with a terminal. The
     * process's own will be the terminal; and containerd's shim reads create's output to its
     * end, which would not come while init held create's stdout.
     */
    static void handDown(Pointer fileActions, int socket) {
        LIBC.posix_spawn_file_actions_adddup2(fileActions, socket, SOCKET_FD);
        LIBC.posix_spawn_file_actions_addopen(fileActions, 0, "/dev/null", O_RDWR, 0);
        LIBC.posix_spawn_file_actions_adddup2(fileActions, 0, 1);
        LIBC.posix_spawn_file_actions_adddup2(fileActions, 0, 2);
    }

    /**
     * init's (or exec's) side, in the container's root: the pair from the container's devpts,
     * unlocked; the slave end owned by the process's user (it is the user's terminal, as at a
     * login) and sized as config.json's consoleSize says; the master sent to the engine and
     * closed here. The slave stays open, close-on-exec, until {@link #become}.
     */
    static int open(long uid, Map<String, Object> consoleSize) {
        // the devpts instance's own ptmx, not /dev/ptmx: that is a link create made, unless config.json
        // mounts no tmpfs on /dev, and then it is whatever the image put there (a FIFO would hang create)
        int master = check("open(\"/dev/pts/ptmx\", O_RDWR|O_NOCTTY|O_CLOEXEC)", () -> LIBC.open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC, 0), "");
        check("unlockpt(" + master + ")", () -> LIBC.unlockpt(master), "");
        byte[] name = new byte[64];
        check("ptsname_r(" + master + ")", () -> LIBC.ptsname_r(master, name, name.length) == 0 ? 0 : -1, ""); // 0, or an error number (and errno)
        String slavePath = new String(name, 0, indexOfNul(name), StandardCharsets.UTF_8);
        // the slave through the master itself, not by its path: in a running container (exec) a
        // path under /dev/pts is one more name its processes may have had a hand in
        int slave = check("ioctl(" + master + ", TIOCGPTPEER, O_RDWR|O_NOCTTY|O_CLOEXEC) (" + slavePath + ")",
                () -> LIBC.ioctl(master, TIOCGPTPEER, (long) (O_RDWR | O_NOCTTY | O_CLOEXEC)), "");
        check("fchown(" + slave + ", " + uid + ", -1)", () -> LIBC.fchown(slave, (int) uid, -1), "");
        if (consoleSize != null) {
            int rows = (int) Bundle.number(consoleSize, "height", 0), columns = (int) Bundle.number(consoleSize, "width", 0);
            byte[] winsize = {(byte) rows, (byte) (rows >> 8), (byte) columns, (byte) (columns >> 8), 0, 0, 0, 0}; // struct winsize: four 16-bit numbers
            check("ioctl(" + slave + ", TIOCSWINSZ, {rows=" + rows + ", columns=" + columns + "})", () -> LIBC.ioctl(slave, TIOCSWINSZ, winsize), "");
        }
        sendDescriptor(SOCKET_FD, master, slavePath);
        LIBC.close(master);
        LIBC.close(SOCKET_FD);
        return slave;
    }

    static int indexOfNul(byte[] bytes) {
        for (int i = 0; i < bytes.length; i++) if (bytes[i] == 0) return i;
        return bytes.length;
    }

    /**
     * sendmsg(2) with one SCM_RIGHTS control message: the kernel installs a copy of the open
     * file in the receiver, under a number of its own. The message's one byte of data is the
     * terminal's name (a message must carry at least one byte; runc sends the name too).
     * The structures are laid out by hand, for a 64-bit Linux (x86-64, aarch64):
     * struct msghdr {name 0, namelen 8, iov 16, iovlen 24, control 32, controllen 40, flags 48},
     * struct iovec {base 0, len 8}, struct cmsghdr {len 0, level 8, type 12, data 16}.
     */
    static void sendDescriptor(int socket, int fd, String name) {
        Runtime runtime = Runtime.getRuntime(LIBC);
        byte[] data = name.getBytes(StandardCharsets.UTF_8);
        Pointer bytes = Memory.allocateDirect(runtime, data.length);
        bytes.put(0, data, 0, data.length);
        Pointer iovec = Memory.allocateDirect(runtime, 16);
        iovec.putLong(0, bytes.address());
        iovec.putLong(8, data.length);
        Pointer control = Memory.allocateDirect(runtime, 24, true); // CMSG_SPACE(sizeof(int)), zeroed
        control.putLong(0, 20); // CMSG_LEN(sizeof(int))
        control.putInt(8, SOL_SOCKET);
        control.putInt(12, SCM_RIGHTS);
        control.putInt(16, fd);
        Pointer message = Memory.allocateDirect(runtime, 56, true); // zeroed: no name, no flags
        message.putLong(16, iovec.address());
        message.putLong(24, 1);
        message.putLong(32, control.address());
        message.putLong(40, 24);
        check("sendmsg(" + socket + ", {\"" + name + "\", SCM_RIGHTS [" + fd + "]}, 0)", () -> LIBC.sendmsg(socket, message, 0) < 0 ? -1 : 0, "");
        java.lang.ref.Reference.reachabilityFence(bytes); // the memory the message points to is freed with them
        java.lang.ref.Reference.reachabilityFence(iovec);
        java.lang.ref.Reference.reachabilityFence(control);
    }

    /**
     * The last step before execve: a session of the process's own (setsid), whose controlling
     * terminal is the slave end (TIOCSCTTY: what Ctrl-C's SIGINT and a hang-up go by), and the
     * slave as descriptors 0, 1 and 2 (dup2 clears close-on-exec on the copies).
     */
    static void become(int slave) {
        check("setsid()", LIBC::setsid, "");
        check("ioctl(" + slave + ", TIOCSCTTY, 0)", () -> LIBC.ioctl(slave, TIOCSCTTY, 0L), "");
        for (int fd = 0; fd <= 2; fd++) {
            int target = fd;
            check("dup2(" + slave + ", " + fd + ")", () -> LIBC.dup2(slave, target), "");
        }
        LIBC.close(slave);
    }
}
// end::console[]
