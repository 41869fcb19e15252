package workbook;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * What AsciiDoc does to text a learner copies. Inside `backticks`, " -- " becomes an em dash
 * (the command breaks), unless the span is literal: `+...+`. A span in single backticks is
 * "constrained": glued to a letter, a digit, "_" or a quote, its backticks are printed as they
 * are (and `...`'s makes a curly quote of the backtick); two backticks on each side (``...``)
 * are needed there. Listing blocks are left alone. The rendered book was read for these: what
 * this test refuses is what showed there.
 */
class BookTextTest {
    static final Pattern SPAN = Pattern.compile("(?<!`)`(?!`)([^`\n]+?)(?<!`)`(?!`)");

    static Stream<Path> chapters() throws IOException {
        try (Stream<Path> files = Files.list(Stage.WORKBOOK.resolve("docs"))) {
            return files.filter(f -> f.toString().endsWith(".adoc")).sorted().toList().stream();
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("chapters")
    void commandsInBackticksReachTheReaderAsTyped(Path chapter) throws IOException {
        List<String> faults = new ArrayList<>();
        for (String paragraph : paragraphs(Files.readAllLines(chapter))) {
            Matcher span = SPAN.matcher(paragraph);
            while (span.find()) {
                String text = span.group(1);
                boolean literal = text.startsWith("+") && text.endsWith("+");
                char before = span.start() > 0 ? paragraph.charAt(span.start() - 1) : ' ';
                char after = span.end() < paragraph.length() ? paragraph.charAt(span.end()) : ' ';
                if (text.contains(" -- ") && !literal)
                    faults.add("\" -- \" in `" + text + "` becomes an em dash: write `+" + text + "+`");
                if (Character.isLetterOrDigit(before) || Character.isLetterOrDigit(after) || "_\"".indexOf(before) >= 0 || "_\"'".indexOf(after) >= 0)
                    faults.add("`" + text + "` is glued to '" + before + "' or '" + after + "': its backticks show; write ``" + text + "``");
            }
        }
        assertEquals(List.of(), faults, chapter.getFileName() + ":");
    }

    /**
     * A ditaa picture draws a box's side only where its characters line up: a line one column
     * wider than its frame loses a corner and leaves a stray "|". So every "|" of a picture
     * has a side, a corner or a line crossing it (an arrow) right above it and right below it,
     * or the picture's own top or bottom.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("chapters")
    void everyLineOfADiagramStaysInsideItsFrame(Path chapter) throws IOException {
        List<String> faults = new ArrayList<>();
        List<String> lines = Files.readAllLines(chapter);
        for (int i = 0; i < lines.size(); i++) {
            if (!lines.get(i).startsWith("[ditaa")) continue;
            int start = i + 2, end = start;
            while (!lines.get(end).equals("....")) end++;
            for (int row = start; row < end; row++)
                for (int column = 0; column < lines.get(row).length(); column++)
                    if (lines.get(row).charAt(column) == '|') {
                        boolean above = row == start || edge(lines.get(row - 1), column);
                        boolean below = row == end - 1 || edge(lines.get(row + 1), column);
                        if (!above || !below)
                            faults.add("line " + (row + 1) + ", column " + (column + 1) + ": a side with nothing to join "
                                    + (above ? "below" : "above") + " it: " + lines.get(row).strip());
                    }
            i = end;
        }
        assertEquals(List.of(), faults, chapter.getFileName() + ":");
    }

    static boolean edge(String line, int column) {
        return column < line.length() && "|+-<>v^".indexOf(line.charAt(column)) >= 0;
    }

    /** The text outside listing blocks, a paragraph (lines up to an empty one) at a time, on one line. */
    static List<String> paragraphs(List<String> lines) {
        List<String> paragraphs = new ArrayList<>();
        StringBuilder paragraph = new StringBuilder();
        String block = null;
        for (String line : lines) {
            boolean delimiter = line.matches("-{4,}|\\.{4,}");
            if (delimiter) block = line.equals(block) ? null : block == null ? line : block;
            if (delimiter || block != null || line.isBlank() || line.startsWith("include::") || line.startsWith("//")) {
                if (!paragraph.isEmpty()) paragraphs.add(paragraph.toString());
                paragraph.setLength(0);
                continue;
            }
            paragraph.append(paragraph.isEmpty() ? "" : " ").append(line);
        }
        if (!paragraph.isEmpty()) paragraphs.add(paragraph.toString());
        return paragraphs;
    }
}
