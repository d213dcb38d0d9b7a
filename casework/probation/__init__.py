"""Probation check-ins: an officer enrols a young person, the bot reminds them on a schedule,
records each check-in and tells the officer when one is missed.

The pieces are kept apart so each can be tested alone: ``model`` (the domain values),
``ports`` (the store port the SQLite and MongoDB adapters implement), ``planner`` (turns a
schedule into durable jobs and runs them), ``extension`` (the bot turn: enrolment codes and
check-in answers), ``service`` (officer actions with permission checks and audit), ``api`` and
``console`` (HTTP), ``charts`` and ``export`` (SVG and CSV), ``wiring`` (assembly).
"""
