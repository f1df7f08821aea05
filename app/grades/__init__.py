"""Grade passback: scores computed by the class's grading rule, posted to the course gradebook (LTI AGS)."""
