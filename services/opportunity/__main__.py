from services.opportunity.server import build

build().main()
