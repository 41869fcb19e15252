package container;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

import static container.LibC.*;
import static container.Narration.*;

/** The container's init, as the parent sees it: it says when it is up, then waits until released. */
final class Container {
    final int pid;
    final int startPipe;
    final int readyPipe;
    final CompletableFuture<Integer> exit;

    Container(int pid, int startPipe, int readyPipe, CompletableFuture<Integer> exit) {
        this.pid = pid;
        this.startPipe = startPipe;
        this.readyPipe = readyPipe;
        this.exit = exit;
    }

    /** Init writes one byte when its JVM has started; end-of-file means it died first. */
    void awaitReady() {
        int n = LIBC.read(readyPipe, new byte[1], 1);
        LIBC.close(readyPipe);
        narrate("read(" + readyPipe + ", ..., 1) = " + n + (n == 1 ? ": init is up" : ": init ended"));
        if (n != 1) throw new StageFailure("the container's init ended before it was ready (see its message above)");
    }

    /** One byte down the pipe tells init that the host side is ready. */
    void release() {
        check("write(" + startPipe + ", \"go\", 1)", () -> LIBC.write(startPipe, new byte[]{'g'}, 1), "");
        LIBC.close(startPipe);
    }

    /**
     * On a path that left before awaitExit (an interrupt, a failure), init may still run, in
     * the groups and on the links the parent is about to remove: SIGKILL, then wait until it
     * is reaped. Not once it is (the future is done): its PID may be another process's by then.
     */
    void end() {
        if (!exit.isDone()) {
            Freezer.thawBeforeSignal(pid);
            LIBC.kill(pid, SIGKILL);
        }
        exit.exceptionally(e -> -1).join();
    }

    int awaitExit() throws InterruptedException {
        try {
            return exit.get();
        } catch (ExecutionException e) {
            throw (RuntimeException) e.getCause();
        }
    }
}
