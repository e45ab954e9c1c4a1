import sys

from services.common.runtime import serve
from services.common.settings import ShippedDefaultSecret, get_settings
from services.intake.service import create_app

settings = get_settings()
try:
    app = create_app(settings)
except ShippedDefaultSecret as refused:
    sys.exit(f"intake: not started: {refused}")
serve(app, settings, settings.intake_port)
