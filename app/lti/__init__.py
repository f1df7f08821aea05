"""LTI 1.3 (Advantage): the game as a tool inside the learning management system of a course."""
