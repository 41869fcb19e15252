package container;

import static container.Narration.*;
import static container.Parent.*;

/** The container's CPU use, live: once a second, from the cgroup's own accounting. */
final class Meter {

    // tag::meter[]
    /** Once a second: the CPUs the container used in that second, against its limit. */
    static Thread startMeter(Cgroup cgroup, Double limit) {
        Thread meter = new Thread(() -> {
            long before = cgroup.usageMicros(), then = System.nanoTime();
            while (before >= 0 && !Thread.currentThread().isInterrupted()) {
                sleep(1000);
                long used = cgroup.usageMicros(), now = System.nanoTime();
                if (used < 0 || Thread.currentThread().isInterrupted()) return;
                narrate(meterLine((used - before) * 1000.0 / (now - then), limit));
                before = used;
                then = now;
            }
        }, "meter");
        meter.setDaemon(true);
        meter.start();
        return meter;
    }

    static String meterLine(double cpus, Double limit) {
        double full = limit != null ? limit : java.lang.Runtime.getRuntime().availableProcessors();
        int eighths = (int) Math.round(Math.min(cpus / full, 1) * 20 * 8);
        String bar = "\u2588".repeat(eighths / 8) + (eighths % 8 == 0 ? "" : String.valueOf((char) ('\u2590' - eighths % 8)));
        return String.format("cpu %.2f / %s %s", cpus, limit != null ? String.format("%.2f", limit) : "no limit", bar);
    }
    // end::meter[]
}
