"""Entry point of the `streamq` command."""


def main() -> None:
    print("hello")
