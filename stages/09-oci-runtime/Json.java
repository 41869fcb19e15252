package container;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The little JSON an OCI image is written in (index.json, a manifest, a config), read into
 * Maps, Lists, Strings, Longs and Booleans, and written back compactly, keys in the order given.
 * The JDK has no JSON; a library would be one more dependency for a few dozen lines.
 */
final class Json {
    private final String text;
    private int at;

    private Json(String text) {
        this.text = text;
    }

    static Object parse(String text) {
        Json json = new Json(text);
        Object value = json.value();
        json.skipSpace();
        if (json.at != text.length()) throw json.error("text after the value");
        return value;
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> object(Object value, String what) {
        if (value instanceof Map<?, ?> map) return (Map<String, Object>) map;
        throw new IllegalArgumentException(what + " is not a JSON object");
    }

    /** An object with its keys in the order given: key, value, key, value... */
    static Map<String, Object> of(Object... keysAndValues) {
        Map<String, Object> map = new LinkedHashMap<>();
        for (int i = 0; i < keysAndValues.length; i += 2) map.put((String) keysAndValues[i], keysAndValues[i + 1]);
        return map;
    }

    static String write(Object value) {
        if (value == null) return "null";
        if (value instanceof String s) return quote(s);
        if (value instanceof Number || value instanceof Boolean) return value.toString();
        if (value instanceof List<?> list) return "[" + String.join(",", list.stream().map(Json::write).toList()) + "]";
        if (value instanceof Map<?, ?> map)
            return "{" + String.join(",", map.entrySet().stream().map(e -> quote((String) e.getKey()) + ":" + write(e.getValue())).toList()) + "}";
        throw new IllegalArgumentException("no JSON for " + value.getClass());
    }

    static String quote(String s) {
        StringBuilder out = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') out.append('\\').append(c);
            else if (c < 0x20) out.append(String.format("\\u%04x", (int) c));
            else out.append(c);
        }
        return out.append('"').toString();
    }

    private Object value() {
        skipSpace();
        if (at >= text.length()) throw error("a value");
        char c = text.charAt(at);
        if (c == '{') return members();
        if (c == '[') return elements();
        if (c == '"') return string();
        for (String word : List.of("true", "false", "null"))
            if (text.startsWith(word, at)) {
                at += word.length();
                return word.equals("null") ? null : Boolean.valueOf(word);
            }
        int start = at;
        while (at < text.length() && "+-0123456789.eE".indexOf(text.charAt(at)) >= 0) at++;
        if (start == at) throw error("a value");
        String number = text.substring(start, at);
        return number.matches("-?\\d+") ? (Object) Long.valueOf(number) : Double.valueOf(number);
    }

    private Map<String, Object> members() {
        Map<String, Object> map = new LinkedHashMap<>();
        at++;
        skipSpace();
        if (text.startsWith("}", at)) { at++; return map; }
        do {
            skipSpace();
            String key = string();
            expect(':');
            map.put(key, value());
        } while (next(',', '}'));
        return map;
    }

    private List<Object> elements() {
        List<Object> list = new ArrayList<>();
        at++;
        skipSpace();
        if (text.startsWith("]", at)) { at++; return list; }
        do list.add(value()); while (next(',', ']'));
        return list;
    }

    private String string() {
        if (at >= text.length() || text.charAt(at) != '"') throw error("a string");
        StringBuilder out = new StringBuilder();
        for (at++; at < text.length(); at++) {
            char c = text.charAt(at);
            if (c == '"') { at++; return out.toString(); }
            if (c != '\\') { out.append(c); continue; }
            char e = text.charAt(++at);
            switch (e) {
                case 'n' -> out.append('\n');
                case 't' -> out.append('\t');
                case 'r' -> out.append('\r');
                case 'b' -> out.append('\b');
                case 'f' -> out.append('\f');
                case 'u' -> { out.append((char) Integer.parseInt(text.substring(at + 1, at + 5), 16)); at += 4; }
                default -> out.append(e);
            }
        }
        throw error("the string's closing quote");
    }

    /** After a member or an element: true on a comma, false on the closing bracket. */
    private boolean next(char more, char end) {
        skipSpace();
        if (at < text.length() && text.charAt(at) == more) { at++; return true; }
        expect(end);
        return false;
    }

    private void expect(char c) {
        skipSpace();
        if (at >= text.length() || text.charAt(at) != c) throw error("'" + c + "'");
        at++;
    }

    private void skipSpace() {
        while (at < text.length() && Character.isWhitespace(text.charAt(at))) at++;
    }

    private IllegalArgumentException error(String expected) {
        return new IllegalArgumentException("not valid JSON: expected " + expected + " at character " + at);
    }
}
