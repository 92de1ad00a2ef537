"""`.env.example` lists every setting the platform reads from the environment."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
READ = re.compile(r"""(?:env(?:\.\w+)?|os\.environ\.get|env\.get)\(\s*["']([A-Z][A-Z0-9_]+)["']""")


def _names_read() -> set[str]:
    names: set[str] = set()
    for path in [*ROOT.glob("config/*.py"), *ROOT.glob("apps/**/*.py"), ROOT / "Procfile"]:
        names.update(READ.findall(path.read_text()))
    names.update(re.findall(r"\$\{?([A-Z][A-Z0-9_]+)", (ROOT / "Procfile").read_text()))
    return names - {"DJANGO_SETTINGS_MODULE", "PATH"}


def test_every_setting_read__is_listed_with_a_meaning():
    example = (ROOT / ".env.example").read_text()
    listed = set(re.findall(r"^#?\s?([A-Z][A-Z0-9_]+)=", example, flags=re.M))
    read = _names_read()

    assert read, "found no settings read: the pattern is broken"
    assert read - listed == set()
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "SOLANA_RPC_URLS"} <= listed
