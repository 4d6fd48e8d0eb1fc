"""The platform's own JSON library (Jackson on Java 17), run beside the tests to compare with."""
