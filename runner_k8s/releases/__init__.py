"""What differs between CITA-Cloud releases, one subpackage per release."""
