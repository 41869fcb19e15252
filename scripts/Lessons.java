import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The lessons of a stage: the methods that are new in it, each marked in the stage's own
 * sources by a comment that says what to write, above the method that is the solution:
 *
 * <pre>
 *     // lesson::namespaces[] Create the container's namespaces
 *     //   What: ...
 *     //   Read: man 2 unshare
 *     //   Trap: ...
 *     static void createNamespaces() {
 *         ...the solution...
 *     }
 * </pre>
 *
 * A lesson runs from its marker to the line that closes the method (a "}" at the marker's
 * indentation). From the marked sources this makes a learner's skeleton (every lesson's body
 * replaced by a TODO that stops the stage with exit 125) and the grader's hybrids (a learner's
 * folder with every lesson but one taken from the reference, so that each lesson is graded on
 * its own). Run with the JDK's source launcher, no build needed:
 *
 *   java scripts/Lessons.java list REFERENCE                 name, file, title, trap: one lesson a line
 *   java scripts/Lessons.java skeleton REFERENCE OUT         the learner's copy
 *   java scripts/Lessons.java hybrids REFERENCE LEARNER OUT  OUT/LESSON for every lesson
 *   java scripts/Lessons.java restore REFERENCE COPY LESSON  puts the reference's LESSON back into COPY
 *   java scripts/Lessons.java book STAGES OUT                OUT/NN-name.adoc: each stage's lessons, a table for the book
 */
public class Lessons {
    static final Pattern MARKER = Pattern.compile("^(\\s*)// lesson::([\\w-]+)\\[\\]\\s*(.*)$");

    /** One lesson as it stands in one file: where it starts and ends, and what its marker says. */
    record Lesson(String name, Path file, int start, int end, String title, List<String> hints, int bodyStart) {
        String trap() {
            return hints.stream().filter(h -> h.startsWith("Trap:")).findFirst().orElse("");
        }
    }

    public static void main(String[] args) throws IOException {
        if (args.length < 2) usage();
        Path reference = Path.of(args[1]);
        switch (args[0]) {
            case "list" -> {
                for (Lesson l : lessonsIn(reference))
                    System.out.println(String.join("\t", l.name(), l.file().getFileName().toString(), l.title(), l.trap()));
            }
            case "skeleton" -> {
                if (args.length != 3) usage();
                skeleton(reference, Path.of(args[2]));
            }
            case "hybrids" -> {
                if (args.length != 4) usage();
                hybrids(reference, Path.of(args[2]), Path.of(args[3]));
            }
            case "restore" -> {
                if (args.length != 4) usage();
                restore(reference, Path.of(args[2]), Set.of(args[3]));
            }
            case "book" -> {
                if (args.length != 3) usage();
                book(reference, Path.of(args[2]));
            }
            default -> usage();
        }
    }

    static void usage() {
        System.err.println("usage: java scripts/Lessons.java list|skeleton|hybrids|restore ... (see the top of the file)");
        System.exit(2);
    }

    // ---------------------------------------------------------------- finding lessons

    static List<Lesson> lessonsIn(Path folder) throws IOException {
        List<Lesson> lessons = new ArrayList<>();
        for (Path file : javaFiles(folder)) lessons.addAll(lessonsIn(file, Files.readAllLines(file)));
        return lessons;
    }

    static List<Lesson> lessonsIn(Path file, List<String> lines) {
        List<Lesson> lessons = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            Matcher m = MARKER.matcher(lines.get(i));
            if (!m.matches()) continue;
            String indent = m.group(1);
            List<String> hints = new ArrayList<>();
            int j = i + 1;
            for (; j < lines.size() && lines.get(j).startsWith(indent + "//   "); j++) {
                String hint = lines.get(j).substring(indent.length() + 5);
                if (hint.startsWith(" ") && !hints.isEmpty()) hints.set(hints.size() - 1, hints.get(hints.size() - 1) + " " + hint.trim());
                else hints.add(hint.trim());
            }
            while (j < lines.size() && !lines.get(j).stripTrailing().endsWith("{")) j++; // the javadoc, the signature
            int bodyStart = j + 1;
            int end = bodyStart;
            while (end < lines.size() && !lines.get(end).equals(indent + "}")) end++;
            if (end == lines.size())
                throw new IllegalStateException(file + ":" + (i + 1) + ": lesson " + m.group(2) + " has no closing \"" + indent + "}\"");
            lessons.add(new Lesson(m.group(2), file, i, end, m.group(3), hints, bodyStart));
        }
        return lessons;
    }

    /** Main.java, then the files its //SOURCES lines name, in their order: the order of a run. */
    static List<Path> javaFiles(Path folder) throws IOException {
        List<Path> files = new ArrayList<>(List.of(folder.resolve("Main.java")));
        for (String line : Files.readAllLines(folder.resolve("Main.java")))
            if (line.startsWith("//SOURCES "))
                for (String name : line.substring(10).trim().split("\\s+")) files.add(folder.resolve(name));
        return files;
    }

    // ---------------------------------------------------------------- making copies

    /** The learner's copy: each lesson keeps its marker, its comment and its signature; its body becomes a TODO. */
    static void skeleton(Path reference, Path out) throws IOException {
        copy(reference, out);
        for (Path file : javaFiles(out)) {
            List<String> lines = Files.readAllLines(file);
            List<Lesson> lessons = lessonsIn(file, lines);
            for (int k = lessons.size() - 1; k >= 0; k--) { // from the bottom, so earlier line numbers hold
                Lesson l = lessons.get(k);
                String indent = lines.get(l.start()).substring(0, lines.get(l.start()).indexOf("//"));
                String method = methodName(lines.get(l.bodyStart() - 1));
                String where = method + "() in " + file.getFileName();
                List<String> todo = List.of(
                        indent + "    // TODO(" + l.name() + "): " + l.title() + ". The comment above this method says how;",
                        indent + "    // `scripts/check` says whether it works. Until then the stage stops here.",
                        indent + "    narrate(\"TODO(" + l.name() + "): " + where + " is not written yet\");",
                        indent + "    throw new StageFailure(\"lesson " + l.name() + ": write " + where + " (see the TODO there)\");");
                lines.subList(l.bodyStart(), l.end()).clear();
                lines.addAll(l.bodyStart(), todo);
            }
            Files.write(file, lines);
        }
    }

    /** OUT/LESSON for every lesson: the learner's folder, with every *other* lesson taken from the reference. */
    static void hybrids(Path reference, Path learner, Path out) throws IOException {
        List<String> names = lessonsIn(reference).stream().map(Lesson::name).toList();
        for (String name : names) {
            Path hybrid = out.resolve(name);
            copy(learner, hybrid);
            restore(reference, hybrid, names.stream().filter(n -> !n.equals(name)).collect(java.util.stream.Collectors.toSet()));
            System.out.println(name);
        }
    }

    /** Replaces the named lessons in COPY by the reference's text of them. */
    static void restore(Path reference, Path copy, Set<String> names) throws IOException {
        Map<String, List<String>> solutions = new LinkedHashMap<>();
        for (Lesson l : lessonsIn(reference)) {
            List<String> lines = Files.readAllLines(l.file());
            solutions.put(l.name(), new ArrayList<>(lines.subList(l.start(), l.end() + 1)));
        }
        for (String name : names)
            if (!solutions.containsKey(name)) throw new IllegalArgumentException("no lesson " + name + " in " + reference);
        Set<String> found = new java.util.HashSet<>();
        for (Path file : javaFiles(copy)) {
            List<String> lines = Files.readAllLines(file);
            List<Lesson> lessons = lessonsIn(file, lines);
            for (int k = lessons.size() - 1; k >= 0; k--) {
                Lesson l = lessons.get(k);
                found.add(l.name());
                if (!names.contains(l.name())) continue;
                lines.subList(l.start(), l.end() + 1).clear();
                lines.addAll(l.start(), solutions.get(l.name()));
            }
            Files.write(file, lines);
        }
        for (String name : names)
            if (!found.contains(name))
                throw new IllegalStateException(copy + " has no \"// lesson::" + name + "[]\" line: put it back above the method, as scripts/exercise wrote it");
    }

    // ---------------------------------------------------------------- the book

    /** For each stage with lessons, an AsciiDoc table of them, in the order a run meets them. */
    static void book(Path stages, Path out) throws IOException {
        Files.createDirectories(out);
        try (Stream<Path> folders = Files.list(stages)) {
            for (Path stage : folders.sorted().toList()) {
                List<String> rows = new ArrayList<>(List.of("[cols=\"2,3,6,3\",options=\"header\"]", "|===",
                        "| lesson | where | what to write | read"));
                for (Lesson l : lessonsIn(stage)) {
                    String signature = Files.readAllLines(l.file()).get(l.bodyStart() - 1).trim();
                    rows.add("");
                    rows.add("| `" + l.name() + "`");
                    rows.add("| `" + l.file().getFileName() + "`: `" + methodName(signature) + "`");
                    rows.add("| *" + l.title() + "*: " + hint(l, "What:"));
                    rows.add("| " + hint(l, "Read:"));
                }
                rows.add("|===");
                Files.write(out.resolve(stage.getFileName() + ".adoc"), rows);
            }
        }
    }

    static String hint(Lesson l, String label) {
        return l.hints().stream().filter(h -> h.startsWith(label)).map(h -> h.substring(label.length()).trim())
                .findFirst().orElse("").replace("|", "\\|");
    }

    static String methodName(String signature) {
        Matcher m = Pattern.compile("(\\w+)\\s*\\(").matcher(signature);
        return m.find() ? m.group(1) : "the method";
    }

    static void copy(Path from, Path to) throws IOException {
        Files.createDirectories(to);
        try (Stream<Path> files = Files.list(from)) {
            for (Path f : files.toList())
                if (Files.isRegularFile(f)) Files.copy(f, to.resolve(f.getFileName()), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
    }
}
