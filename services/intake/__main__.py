from services.common.runtime import serve
from services.common.settings import get_settings
from services.intake.service import create_app

settings = get_settings()
serve(create_app(settings), settings, settings.intake_port)
