"""Pure analysis of a session's facts: results, strategy, best laps and charts.

Everything here takes tracker facts (or rows already read) and returns JSON-ready dicts or SVG
strings; nothing reads a clock, the database or a socket.
"""
